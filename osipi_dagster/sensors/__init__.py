"""Sensors: react to changes in the PI System that no schedule can predict."""

from osipi_dagster.sensors.event_frames import pi_open_event_frames_sensor
from osipi_dagster.sensors.new_tags import pi_new_tags_sensor

__all__ = ["pi_new_tags_sensor", "pi_open_event_frames_sensor"]
