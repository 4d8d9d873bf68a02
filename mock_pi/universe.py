"""The mock PI System's universe: PI points and the AF tree they belong to.

A plant is built top-down and sequentially — enterprise → sites → areas → units → equipment — until
there are enough sensors for the configured tag count. Each equipment element has a template whose
sensors become PI points, so every tag belongs to exactly one element. Scheduled expansions extend the
same sequence: the first N tags (and their elements) never change when more are added.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

from mock_pi import webid
from mock_pi.config import MockConfig
from mock_pi.hashing import key, uniform1

# Data before this instant does not exist ("Pt Created" is recorded here for the original tags).
HISTORY_START = datetime(2024, 1, 1, tzinfo=UTC)
HISTORY_START_S = int(HISTORY_START.timestamp())


@dataclass(frozen=True)
class Sensor:
    """An attribute template of an equipment template: what one PI point measures."""

    attribute: str  # AF attribute name
    code: str  # tag-name suffix
    point_type: str  # Float32 / Float64 / Int32 / Digital / String
    units: str
    zero: float
    span: float
    period_s: int  # nominal sampling interval
    kind: str = "analog"  # analog / counter / digital / string
    digital_set: str = ""
    dense: bool = False  # every sample is a burst of events sharing its timestamp (mock_pi.signals)


DIGITAL_SETS: dict[str, list[str]] = {
    "RunStatus": ["Stopped", "Running", "Tripped"],
    "ValvePosition": ["Closed", "Open", "Travel", "Fault"],
}

_A, _C, _D, _S = "analog", "counter", "digital", "string"
EQUIPMENT_TEMPLATES: dict[str, tuple[str, list[Sensor]]] = {
    # template name -> (element name prefix, sensors)
    "Pump": (
        "P",
        [
            Sensor("Flow", "FI", "Float32", "m3/h", 0, 500, 60),
            Sensor("Discharge Pressure", "PI_DISCH", "Float32", "bar", 0, 40, 60),
            Sensor("Suction Pressure", "PI_SUCT", "Float32", "bar", 0, 10, 60),
            Sensor("Bearing Temperature", "TI_BRG", "Float32", "degC", 0, 150, 60),
            Sensor("Vibration", "VI", "Float32", "mm/s", 0, 25, 10),
            Sensor("Motor Current", "II", "Float32", "A", 0, 400, 60),
            Sensor("Run Status", "RUN", "Digital", "", 0, 2, 1800, _D, "RunStatus"),
        ],
    ),
    "Compressor": (
        "K",
        [
            Sensor("Inlet Pressure", "PI_IN", "Float32", "bar", 0, 20, 60),
            Sensor("Outlet Pressure", "PI_OUT", "Float32", "bar", 0, 120, 60),
            Sensor("Discharge Temperature", "TI_DISCH", "Float32", "degC", 0, 250, 60),
            Sensor("Speed", "SI", "Int32", "rpm", 0, 12000, 60),
            Sensor("Vibration", "VI", "Float32", "mm/s", 0, 25, 10),
            Sensor("Run Hours", "HRS", "Float64", "h", 0, 200000, 300, _C),
            Sensor("Run Status", "RUN", "Digital", "", 0, 2, 1800, _D, "RunStatus"),
        ],
    ),
    "HeatExchanger": (
        "E",
        [
            Sensor("Shell Inlet Temperature", "TI_SH_IN", "Float32", "degC", 0, 300, 60),
            Sensor("Shell Outlet Temperature", "TI_SH_OUT", "Float32", "degC", 0, 300, 60),
            Sensor("Tube Inlet Temperature", "TI_TB_IN", "Float32", "degC", 0, 300, 60),
            Sensor("Tube Outlet Temperature", "TI_TB_OUT", "Float32", "degC", 0, 300, 60),
            Sensor("Differential Pressure", "PDI", "Float32", "kPa", 0, 200, 60),
        ],
    ),
    "Tank": (
        "T",
        [
            Sensor("Level", "LI", "Float32", "%", 0, 100, 300),
            Sensor("Temperature", "TI", "Float32", "degC", 0, 120, 300),
            Sensor("Volume", "VOL", "Float64", "m3", 0, 50000, 300),
            Sensor("Batch ID", "BATCH", "String", "", 0, 0, 14400, _S),
        ],
    ),
    "Turbine": (
        "G",
        [
            Sensor("Power Output", "JI", "Float32", "MW", 0, 250, 60),
            Sensor("Speed", "SI", "Int32", "rpm", 0, 4000, 60),
            Sensor("Exhaust Temperature", "TI_EXH", "Float32", "degC", 0, 700, 60),
            Sensor("Vibration", "VI", "Float32", "mm/s", 0, 25, 10),
            Sensor("Energy Total", "JQ", "Float64", "MWh", 0, 1e7, 300, _C),
            Sensor("Run Status", "RUN", "Digital", "", 0, 2, 1800, _D, "RunStatus"),
        ],
    ),
    "ControlValve": (
        "V",
        [
            Sensor("Position", "ZI", "Float32", "%", 0, 100, 60),
            Sensor("Setpoint", "ZC", "Float32", "%", 0, 100, 60),
            Sensor("Valve State", "ZS", "Digital", "", 0, 3, 1800, _D, "ValvePosition"),
        ],
    ),
}

# Opt-in points outside AF (``--awkward-tags``, ``--dense-tags``). PI point names may not start with anything
# but a letter, digit, ``_`` or ``%``, nor contain control characters or * ' ? ; { } [ ] | \ ` " and are at
# most 1023 characters long (https://docs.aveva.com/bundle/pi-interface-for-relational-database-rdbms-via-odbc/
# page/1009239.html); descriptors may hold anything. ``{i}`` keeps each name unique.
AWKWARD_NAMES = (
    "Température café é {i}",
    "µS conductivity {i} 温度",
    "%FLOW {i} 50% open",
    "_Tank #{i} & Co",
    "Line {i}/A+B=C",
    "Ratio {i} a/b = 1+1 & c",
    "Pump 🚀 {i}.PV",
    "Spaces   inside   {i}",
    "Comma,{i},Colon:x",
    "Dots.and-dashes.{i}.~tilde",
    "Plus+{i}+Plus",
    "Ω{i} Ünïcödé",
)
LONG_NAME_LENGTH = 1000  # one name in every len(AWKWARD_NAMES) + 1 is this long (PI allows 1023)
AWKWARD_DESCRIPTORS = (
    'He said "hot" – it\'s 5" wide',
    "C:\\path\\to\\{i}\\",
    "Line one\nLine two\r\n\tindented",
    "温度 µS/cm é ü ß Ω 🚀",
    "",
    'Quote " backslash \\ newline \n end {i}',
    "x" * 1000,
)
AWKWARD_SENSORS = (
    Sensor("Value", "PV", "Float32", "", 0, 100, 60),
    Sensor("Count", "CT", "Int32", "", 0, 1000, 60),
    Sensor("Status", "ST", "Digital", "", 0, 2, 1800, "digital", "RunStatus"),
    Sensor("Label", "LB", "String", "", 0, 0, 3600, "string"),
)
DENSE_SENSOR = Sensor("Dense Signal", "DENSE", "Float64", "", 0, 100, 1, dense=True)
OUTSIDE_AF_SITE = 0  # the interface (outage domain) of points outside AF; AF sites are numbered from 1


def awkward_name(i: int) -> str:
    """The ``i``-th awkward tag name (0-based): symbols, unicode, spaces, or very long."""
    if i % (len(AWKWARD_NAMES) + 1) == len(AWKWARD_NAMES):
        head = f"Long {i} "
        return head + "".join("ABCDEFGHIJ é/"[j % 13] for j in range(LONG_NAME_LENGTH - len(head) - 1)) + "Z"
    return AWKWARD_NAMES[i % (len(AWKWARD_NAMES) + 1)].format(i=i)


def awkward_descriptor(i: int) -> str:
    return AWKWARD_DESCRIPTORS[i % len(AWKWARD_DESCRIPTORS)].format(i=i)


SITE_NAMES = [
    "Houston",
    "Rotterdam",
    "Singapore",
    "Antwerp",
    "Baytown",
    "Jubail",
    "Pernis",
    "Jamnagar",
    "Ulsan",
    "Whiting",
    "Lavera",
    "Geelong",
]
AREA_NAMES = ["Crude", "Reforming", "Utilities", "Tankfarm", "Power", "Hydrotreating"]
UNITS_PER_AREA = 4
AREAS_PER_SITE = 4


@dataclass(frozen=True)
class Element:
    """An AF element (enterprise, site, area, unit or equipment)."""

    index: int
    name: str
    path: str  # \\AFSRV\DB\Enterprise\Site\...
    parent: int | None  # index of the parent element
    template: str
    level: int  # 0 = enterprise
    guid: uuid.UUID
    webid: str
    children: list[int] = field(default_factory=list, compare=False)


@dataclass(frozen=True)
class Tag:
    point_id: int  # PI point ID, 1-based
    name: str
    path: str
    webid: str
    sensor: Sensor
    element: int | None  # index of the equipment element it belongs to (None: a point outside AF)
    site: int  # site number (its interface: outages hit a whole site)
    created_s: int  # epoch seconds at which the point exists and its data starts
    key: int  # per-tag random stream
    custom_descriptor: str | None = None

    @property
    def descriptor(self) -> str:
        if self.custom_descriptor is not None:
            return self.custom_descriptor
        return f"{self.sensor.attribute} ({self.name.rsplit('.', 1)[0]})"


class Universe:
    """All points and elements of one configuration; cheap to build (30,000 tags in well under a second)."""

    def __init__(self, config: MockConfig):
        self.config = config
        self.namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"osipi-mock/{config.seed}")
        self.data_server_guid = uuid.uuid5(self.namespace, f"dataserver/{config.data_server}")
        self._data_server_ids = webid.encode_guid(self.data_server_guid)
        self.asset_server_guid = uuid.uuid5(self.namespace, f"assetserver/{config.asset_server}")
        self.database_guid = uuid.uuid5(self.namespace, f"database/{config.asset_database}")
        self.data_server_path = f"\\\\{config.data_server}"
        self.database_path = f"\\\\{config.asset_server}\\{config.asset_database}"
        self.elements: list[Element] = []
        self.tags: list[Tag] = []
        self._build()
        self._add_points_outside_af()
        self.tags_by_webid = {t.webid: t for t in self.tags}
        self.tags_by_upper_name = {t.name.upper(): t for t in self.tags}
        self.tags_by_id = {t.point_id: t for t in self.tags}

    # -- identities ------------------------------------------------------------------------------

    @cached_property
    def data_server_webid(self) -> str:
        return webid.object_webid("DS", [self.data_server_guid], self.data_server_path)

    def point_webid(self, tag: Tag, kind: str = "Full") -> str:
        return tag.webid if kind == "Full" else webid.point_webid(self.data_server_guid, tag.point_id, tag.path, kind)

    def visible_tags(self, now_s: float) -> list[Tag]:
        """Points that exist at ``now_s`` (expansions appear at their scheduled time)."""
        if not self.config.expansions:
            return self.tags
        return [t for t in self.tags if t.created_s <= now_s]

    def find_tag(self, web_id: str) -> Tag | None:
        """Resolve a Full, IDOnly or PathOnly point WebID."""
        tag = self.tags_by_webid.get(web_id)
        if tag is not None:
            return tag
        point_id = webid.idonly_point_id(web_id, self._data_server_ids)
        if point_id is not None:  # the client's stream sets: IDOnly WebIDs, read without a full decode
            return self.tags_by_id.get(point_id)
        decoded = webid.decode(web_id)
        if decoded.marker != "DP":
            return None
        if decoded.point_id is not None:
            if decoded.guids[0] != self.data_server_guid:
                return None
            return self.tags_by_id.get(decoded.point_id)
        server, _, name = (decoded.path or "").partition("\\")
        if server != self.config.data_server.upper():
            return None
        return self.tags_by_upper_name.get(name)

    # -- construction ----------------------------------------------------------------------------

    def _element(self, name: str, parent: int | None, template: str) -> int:
        parent_path = self.elements[parent].path if parent is not None else self.database_path
        path = f"{parent_path}\\{name}"
        guid = uuid.uuid5(self.namespace, f"element/{path}")
        level = 0 if parent is None else self.elements[parent].level + 1
        wid = webid.object_webid("Em", [self.asset_server_guid, guid], path)
        index = len(self.elements)
        self.elements.append(Element(index, name, path, parent, template, level, guid, wid))
        if parent is not None:
            self.elements[parent].children.append(index)
        return index

    def _build(self) -> None:
        config = self.config
        total = config.total_tags
        # When each tag appears: the base tags at history start, then each expansion in order.
        created = [HISTORY_START_S] * config.tags
        for expansion in sorted(config.expansions, key=lambda e: e.at):
            created += [int(expansion.at.timestamp())] * expansion.tags
        templates = list(EQUIPMENT_TEMPLATES)
        enterprise = self._element("Enterprise", None, "Enterprise")
        site = area = unit = -1
        n_site = n_area = n_unit = 0
        equipment_in_unit = equipment_target = 0
        counters: dict[tuple[int, str], int] = {}
        while len(self.tags) < total:
            if equipment_in_unit >= equipment_target:
                # Open a new unit (and area/site when those are full).
                if unit < 0 or n_unit % UNITS_PER_AREA == 0:
                    if area < 0 or n_area % AREAS_PER_SITE == 0:
                        base = SITE_NAMES[n_site % len(SITE_NAMES)]
                        name = base if n_site < len(SITE_NAMES) else f"{base} {n_site // len(SITE_NAMES) + 1}"
                        site = self._element(name, enterprise, "Site")
                        n_site += 1
                    area = self._element(AREA_NAMES[n_area % AREAS_PER_SITE + (n_site % 2) * 2], site, "Area")
                    n_area += 1
                n_unit += 1
                unit = self._element(f"U{n_unit:03d}", area, "Unit")
                equipment_in_unit = 0
                equipment_target = 4 + int(uniform1(key(config.seed, "unit-size"), n_unit, 0) * 5)  # 4..8
            template = templates[int(uniform1(key(config.seed, "equipment"), len(self.elements), 1) * len(templates))]
            prefix, sensors = EQUIPMENT_TEMPLATES[template]
            counters[(unit, prefix)] = counters.get((unit, prefix), 0) + 1
            equipment_name = f"{prefix}-{n_unit:03d}{counters[(unit, prefix)]:02d}"
            equipment = self._element(equipment_name, unit, template)
            equipment_in_unit += 1
            site_code = self.elements[site].name.upper().replace(" ", "")[:3] + f"{n_site:02d}"
            for sensor in sensors:
                if len(self.tags) >= total:
                    break
                point_id = len(self.tags) + 1
                name = f"{site_code}.U{n_unit:03d}.{equipment_name}.{sensor.code}"
                path = f"{self.data_server_path}\\{name}"
                self.tags.append(
                    Tag(
                        point_id=point_id,
                        name=name,
                        path=path,
                        webid=webid.point_webid(self.data_server_guid, point_id, path),
                        sensor=sensor,
                        element=equipment,
                        site=n_site,
                        created_s=created[point_id - 1],
                        key=key(config.seed, "tag", point_id),
                    )
                )

    def _add_points_outside_af(self) -> None:
        """Awkward-named tags, then dense tags: after every AF tag, so the other tags never change."""
        config = self.config
        specials = [
            (awkward_name(i), AWKWARD_SENSORS[i % len(AWKWARD_SENSORS)], awkward_descriptor(i))
            for i in range(config.awkward_tags)
        ]
        specials += [
            (f"HSDA.DENSE{i:04d}.PV", DENSE_SENSOR, f"High-speed signal {i}") for i in range(config.dense_tags)
        ]
        for name, sensor, descriptor in specials:
            point_id = len(self.tags) + 1
            path = f"{self.data_server_path}\\{name}"
            self.tags.append(
                Tag(
                    point_id=point_id,
                    name=name,
                    path=path,
                    webid=webid.point_webid(self.data_server_guid, point_id, path),
                    sensor=sensor,
                    element=None,
                    site=OUTSIDE_AF_SITE,
                    created_s=HISTORY_START_S,
                    key=key(config.seed, "tag", point_id),
                    custom_descriptor=descriptor,
                )
            )
