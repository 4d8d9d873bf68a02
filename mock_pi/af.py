"""The AF side of the universe: templates, categories and attributes of the elements of :class:`Universe`.

Pure functions of the universe (and so of seed + configuration), usable by tests to compute what the AF
endpoints must answer:

* every equipment element has one ``PI Point`` attribute per tag (name = ``Sensor.attribute``,
  ``ConfigString`` = the tag path, ``Links.Point`` = the tag), plus static nameplate attributes;
* sites carry static attributes too; element templates derive (``Pump`` → ``Rotating Equipment`` →
  ``Equipment``) so ``templateName`` filters match derived templates;
* an element exists from the creation of its first tag (plant expansions add elements later).

Attribute GUIDs are *structured* (namespace prefix + owner index + attribute index) so an IDOnly WebID
can be resolved without a lookup table.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from mock_pi import webid
from mock_pi.hashing import key, uniform1
from mock_pi.render import iso1
from mock_pi.universe import EQUIPMENT_TEMPLATES, Element, Sensor, Tag, Universe


@dataclass(frozen=True)
class Template:
    """An element or event-frame template."""

    name: str
    base: str | None
    categories: tuple[str, ...]
    instance_type: str = "Element"  # or "EventFrame"
    description: str = ""
    severity: str = "None"
    can_be_acknowledged: bool = False


ROTATING = {"Pump", "Compressor", "Turbine"}
TEMPLATES: dict[str, Template] = {
    "Enterprise": Template("Enterprise", None, ("Organisation",), description="The whole company"),
    "Site": Template("Site", None, ("Organisation",), description="A production site"),
    "Area": Template("Area", None, ("Organisation",), description="A process area of a site"),
    "Unit": Template("Unit", None, ("Organisation",), description="A process unit"),
    "Equipment": Template("Equipment", None, ("Equipment Assets",), description="Any equipment"),
    "Rotating Equipment": Template(
        "Rotating Equipment",
        "Equipment",
        ("Equipment Assets", "Rotating Equipment"),
        description="Machines with a shaft",
    ),
    **{
        name: Template(
            name,
            "Rotating Equipment" if name in ROTATING else "Equipment",
            ("Equipment Assets", "Rotating Equipment") if name in ROTATING else ("Equipment Assets",),
            description=f"{name} equipment",
        )
        for name in EQUIPMENT_TEMPLATES
    },
    # Event-frame templates (InstanceType EventFrame); "High Vibration" derives from "Alarm".
    "Batch": Template("Batch", None, ("Production",), "EventFrame", "A production batch in a tank"),
    "Downtime": Template("Downtime", None, ("Reliability",), "EventFrame", "Unplanned stop of a machine"),
    "Maintenance": Template("Maintenance", None, ("Reliability",), "EventFrame", "Planned maintenance work"),
    "Alarm": Template("Alarm", None, ("Alarms",), "EventFrame", "A process alarm", can_be_acknowledged=True),
    "High Vibration": Template(
        "High Vibration", "Alarm", ("Alarms",), "EventFrame", "Vibration above its limit", can_be_acknowledged=True
    ),
}


@dataclass(frozen=True)
class StaticSpec:
    """A static (no data reference) attribute of a template, with a deterministic value per element."""

    name: str
    type: str  # Int32 / Double / String / DateTime
    units: str = ""
    category: str = "Nameplate"


STATIC_ATTRIBUTES: dict[str, list[StaticSpec]] = {
    "Site": [StaticSpec("Country", "String"), StaticSpec("Time Zone", "String")],
    "Equipment": [
        StaticSpec("Manufacturer", "String"),
        StaticSpec("Model", "String"),
        StaticSpec("Install Date", "DateTime"),
        StaticSpec("Rated Power", "Double", "kW"),
    ],
}
PROCESS_CATEGORY = "Process Data"
ATTRIBUTE_CATEGORIES = {PROCESS_CATEGORY: "Time-series data from PI points", "Nameplate": "Static properties"}
ELEMENT_CATEGORIES = {
    "Organisation": "Organisational elements",
    "Equipment Assets": "Physical equipment",
    "Rotating Equipment": "Pumps, compressors, turbines",
    "Production": "Production events",
    "Reliability": "Downtime and maintenance",
    "Alarms": "Process alarms",
}
_COUNTRIES = {
    "Houston": "United States",
    "Rotterdam": "Netherlands",
    "Singapore": "Singapore",
    "Antwerp": "Belgium",
    "Baytown": "United States",
    "Jubail": "Saudi Arabia",
    "Pernis": "Netherlands",
    "Jamnagar": "India",
    "Ulsan": "South Korea",
    "Whiting": "United States",
    "Lavera": "France",
    "Geelong": "Australia",
}
_MAKERS = ["Sulzer", "Flowserve", "Siemens", "ABB", "Emerson", "Atlas Copco", "KSB", "Grundfos"]


@dataclass(frozen=True)
class Attribute:
    """An AF attribute of an element: ``tag`` set = PI Point data reference, else a static ``value``."""

    owner: int  # element index
    index: int  # position among the element's attributes
    name: str
    path: str  # element path + "|" + name
    guid: uuid.UUID
    webid: str
    type: str
    units: str
    category: str
    tag: Tag | None = None
    value: object = None

    @property
    def is_point(self) -> bool:
        return self.tag is not None


_AF_TYPES = {
    "Float32": "Single",
    "Float64": "Double",
    "Int32": "Int32",
    "Digital": "EnumerationValue",
    "String": "String",
}


def af_type(sensor: Sensor) -> str:
    """The AF value type of an attribute reading a point of this sensor's PI point type."""
    return _AF_TYPES[sensor.point_type]


def structured_guid(namespace: uuid.UUID, kind: bytes, *numbers: int) -> uuid.UUID:
    """16 bytes = 4 of the universe namespace + 4-byte kind + two signed int32: decodable, unique."""
    return uuid.UUID(bytes=namespace.bytes[:4] + kind.ljust(4, b"\0") + struct.pack("<ii", *numbers))


def parse_structured_guid(namespace: uuid.UUID, kind: bytes, guid: uuid.UUID) -> tuple[int, int] | None:
    raw = guid.bytes
    if raw[:4] != namespace.bytes[:4] or raw[4:8] != kind.ljust(4, b"\0"):
        return None
    return struct.unpack("<ii", raw[8:])


def template_chain(name: str) -> list[str]:
    """A template and its base templates, most derived first."""
    chain = []
    while name:
        chain.append(name)
        name = TEMPLATES[name].base if name in TEMPLATES else None
    return chain


class AFModel:
    """AF view of a universe. Cheap to build; attributes are made per element on demand."""

    def __init__(self, universe: Universe):
        self.universe = universe
        self.ns = universe.namespace
        self.server_guid = universe.asset_server_guid
        self.database_guid = universe.database_guid
        self.server_path = f"\\\\{universe.config.asset_server}"
        self.database_path = universe.database_path
        elements = universe.elements
        self.tags_of: list[list[Tag]] = [[] for _ in elements]
        for tag in universe.tags:
            if tag.element is not None:  # awkward and dense tags are PI points outside the AF tree
                self.tags_of[tag.element].append(tag)
        created = [t[0].created_s if t else None for t in self.tags_of]
        for element in reversed(elements):  # children always come after their parent
            if element.parent is not None and created[element.index] is not None:
                p = element.parent
                created[p] = created[element.index] if created[p] is None else min(created[p], created[element.index])
        self.created_s = [c if c is not None else 0 for c in created]
        self.by_guid = {e.guid: e for e in elements}
        self.by_upper_path = {e.path.upper(): e for e in elements}
        self.by_name = {e.name: e for e in elements if e.template in EQUIPMENT_TEMPLATES}

    # -- identities -----------------------------------------------------------------------------

    def server_webid(self, kind: str = "Full") -> str:
        return webid.object_webid("RS", [self.server_guid], self.server_path, kind)

    def database_webid(self, kind: str = "Full") -> str:
        return webid.object_webid("RD", [self.server_guid, self.database_guid], self.database_path, kind)

    def element_webid(self, element: Element, kind: str = "Full") -> str:
        return (
            element.webid
            if kind == "Full"
            else webid.object_webid("Em", [self.server_guid, element.guid], element.path, kind)
        )

    def template_guid(self, name: str) -> uuid.UUID:
        return uuid.uuid5(self.ns, f"template/{name}")

    def template_path(self, name: str) -> str:
        return f"{self.database_path}\\ElementTemplates[{name}]"

    def template_webid(self, name: str, kind: str = "Full") -> str:
        return webid.object_webid("ET", [self.server_guid, self.template_guid(name)], self.template_path(name), kind)

    def attribute_webid(
        self, attribute: Attribute, kind: str = "Full", owner_guid: uuid.UUID | None = None, owner: str = "E"
    ) -> str:
        owner_guid = owner_guid or self.universe.elements[attribute.owner].guid
        return webid.object_webid("Ab", [self.server_guid, owner_guid, attribute.guid], attribute.path, kind, owner)

    # -- elements -------------------------------------------------------------------------------

    def visible(self, element: Element, now_s: float) -> bool:
        return self.created_s[element.index] <= now_s

    def element_at(self, web_id: str) -> Element | None:
        decoded = webid.decode(web_id)
        if decoded.marker != "Em":
            return None
        if decoded.guids:
            return self.by_guid.get(decoded.guids[-1]) if decoded.guids[0] == self.server_guid else None
        return self.by_upper_path.get("\\\\" + (decoded.path or ""))

    def descendants(self, element: Element | None) -> list[Element]:
        """All elements below ``element`` (None = the database root), depth first."""
        elements = self.universe.elements
        stack = list(reversed(element.children if element else [e.index for e in elements if e.parent is None]))
        out = []
        while stack:
            e = elements[stack.pop()]
            out.append(e)
            stack.extend(reversed(e.children))
        return out

    def children(self, element: Element | None) -> list[Element]:
        elements = self.universe.elements
        return [elements[i] for i in element.children] if element else [e for e in elements if e.parent is None]

    def categories(self, element: Element) -> tuple[str, ...]:
        return TEMPLATES[element.template].categories

    def description(self, element: Element) -> str:
        return f"{element.template} {element.name}"

    # -- attributes -----------------------------------------------------------------------------

    def attributes(self, element: Element) -> list[Attribute]:
        """The attributes of an element: PI Point attributes (one per tag) then static ones."""
        out: list[Attribute] = []
        for tag in self.tags_of[element.index]:
            out.append(
                self._attribute(
                    element,
                    len(out),
                    tag.sensor.attribute,
                    af_type(tag.sensor),
                    tag.sensor.units,
                    PROCESS_CATEGORY,
                    tag=tag,
                )
            )
        for spec in self.static_specs(element.template):
            out.append(
                self._attribute(
                    element,
                    len(out),
                    spec.name,
                    spec.type,
                    spec.units,
                    spec.category,
                    value=self.static_value(element, spec),
                )
            )
        return out

    def attribute_of_tag(self, tag: Tag) -> Attribute:
        element = self.universe.elements[tag.element]
        return next(a for a in self.attributes(element) if a.tag is tag)

    def attribute_at(self, web_id: str) -> Attribute | None:
        """Resolve an element attribute WebID (Full, IDOnly or PathOnly)."""
        decoded = webid.decode(web_id)
        if decoded.marker != "Ab" or decoded.owner != "E":
            return None
        if decoded.guids:
            element = self.by_guid.get(decoded.guids[1])
            parsed = parse_structured_guid(self.ns, b"AT", decoded.guids[2])
            if element is None or parsed is None or parsed[0] != element.index:
                return None
            attributes = self.attributes(element)
            return attributes[parsed[1]] if parsed[1] < len(attributes) else None
        element_path, _, name = (decoded.path or "").partition("|")
        element = self.by_upper_path.get("\\\\" + element_path)
        if element is None:
            return None
        return next((a for a in self.attributes(element) if a.name.upper() == name), None)

    def static_specs(self, template: str) -> list[StaticSpec]:
        return [s for t in reversed(template_chain(template)) for s in STATIC_ATTRIBUTES.get(t, [])]

    def static_value(self, element: Element, spec: StaticSpec):
        u = uniform1(key(self.universe.config.seed, "static", element.index, spec.name), 0, 0)
        if spec.name == "Country":
            return _COUNTRIES.get(element.name.split(" ")[0], "Unknown")
        if spec.name == "Time Zone":
            return "UTC"
        if spec.name == "Manufacturer":
            return _MAKERS[int(u * len(_MAKERS))]
        if spec.name == "Model":
            return f"{element.template[:3].upper()}-{100 + int(u * 900)}"
        if spec.name == "Install Date":
            year = 1995 + int(u * 28)
            return iso1(datetime(year, 1 + int(u * 97) % 12, 1, tzinfo=UTC).timestamp())
        return round(50 + u * 5000, 1)

    def _attribute(
        self,
        element: Element,
        index: int,
        name: str,
        type_: str,
        units: str,
        category: str,
        tag: Tag | None = None,
        value: object = None,
    ) -> Attribute:
        guid = structured_guid(self.ns, b"AT", element.index, index)
        path = f"{element.path}|{name}"
        wid = webid.object_webid("Ab", [self.server_guid, element.guid, guid], path, owner="E")
        return Attribute(element.index, index, name, path, guid, wid, type_, units, category, tag, value)

    # -- templates ------------------------------------------------------------------------------

    def attribute_templates(self, template: str, inherited: bool = True) -> list[dict]:
        """Attribute templates as (name, type, units, data reference, category) dicts."""
        names = template_chain(template) if inherited else [template]
        out = []
        for name in reversed(names):
            _, sensors = EQUIPMENT_TEMPLATES.get(name, ("", []))
            for sensor in sensors:
                out.append(
                    {
                        "Name": sensor.attribute,
                        "Type": af_type(sensor),
                        "Units": sensor.units,
                        "DataReferencePlugIn": "PI Point",
                        "Category": PROCESS_CATEGORY,
                        "ConfigString": f"\\\\{self.universe.config.data_server}\\%Element%.{sensor.code}",
                    }
                )
            for spec in STATIC_ATTRIBUTES.get(name, []):
                out.append(
                    {
                        "Name": spec.name,
                        "Type": spec.type,
                        "Units": spec.units,
                        "DataReferencePlugIn": "",
                        "Category": spec.category,
                        "ConfigString": "",
                    }
                )
        return out
