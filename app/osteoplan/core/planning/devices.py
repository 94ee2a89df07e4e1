"""The device catalog: trocars, spindles, K-wires, cannulated screws and ablation probes, with sources.

Entries come from device-catalog providers registered in the ``osteoplan.devices``
entry-point group (the built-in one reads ``resources/devices.json``; see
`osteoplan.plugin_api` for the provider protocol). Every entry names its `source` and
says whether its numbers are `verified`; the UI calls unverified entries "illustrative".

Adding a device kind with its own fields (e.g. ablation probes with zone tables):
add the kind to `DeviceKind`, subclass `Device` with the extra fields, and map the kind
to that subclass in `DEVICE_MODELS`. `DeviceCatalog.listing` appends the extra fields
after the common ones.
"""

from __future__ import annotations

import difflib
import logging
from enum import Enum
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from osteoplan.core.entry_points import BUILTIN, call_in_time, describe_error
from osteoplan.core.errors import OsteoPlanError
from osteoplan.core.planning.trajectory import TrajectoryKind

_log = logging.getLogger(__name__)

DEVICES_RESOURCE = "devices.json"
DEVICES_SCHEMA_VERSION = 1
MAX_DEVICES_PER_PROVIDER = 10_000  # more is a broken plugin, not a catalog

# Nominal outer diameters of needle gauges (resources/sources.md, Devices, ✔): an entry that
# states a gauge must have this diameter, which catches typos in a catalog.
GAUGE_OUTER_DIAMETER_MM = {"10G": 3.404, "11G": 3.048, "12G": 2.769, "13G": 2.413,
                           "14G": 2.108, "15G": 1.829, "17G": 1.473}
GAUGE_TOLERANCE_MM = 0.01

# The order of the fields in `DeviceCatalog.listing`: the `osteoplan devices --json` contract.
LISTING_FIELDS = ("id", "kind", "name", "outer_diameter_mm", "length_mm", "source", "verified",
                  "gauge", "provider", "notes")


class DeviceKind(str, Enum):
    TROCAR = "trocar"
    SPINDLE = "spindle"
    KWIRE = "kwire"
    CANNULATED_SCREW = "cannulated_screw"
    RF_PROBE = "rf_probe"
    MW_ANTENNA = "mw_antenna"
    CRYOPROBE = "cryoprobe"


ABLATION_KINDS = (DeviceKind.RF_PROBE, DeviceKind.MW_ANTENNA, DeviceKind.CRYOPROBE)
CRYO_ISOTHERMS_C = ("0", "-20", "-40")  # the isotherm sizes a cryo setting gives, warmest first


class UnknownDeviceError(OsteoPlanError, KeyError):
    """A device id that is not in the catalog; the message suggests close ids."""

    def __init__(self, device_id: str, suggestions: Iterable[str] = (), known_count: int = 0):
        self.device_id = device_id
        self.suggestions = tuple(suggestions)
        if self.suggestions:
            hint = "did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
        else:
            hint = f"{known_count} devices are known; `osteoplan devices` lists them"
        super().__init__(f"unknown device {device_id!r}: {hint}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Device(BaseModel):
    """One catalog entry. Lengths and diameters in millimetres."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    id: str = Field(min_length=1, max_length=128, pattern=r"^[a-z0-9][a-z0-9._\-]*$")
    kind: DeviceKind
    name: str = Field(min_length=1, max_length=200)
    outer_diameter_mm: float = Field(gt=0, le=100)
    length_mm: float | None = Field(default=None, gt=0, le=2000)
    gauge: str | None = Field(default=None, pattern=r"^[0-9]{1,2}G$")
    source: str = Field(min_length=1, max_length=2000)
    verified: bool
    provider: str = Field(default="", max_length=200)  # set by the loader: which catalog it came from
    notes: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _consistent(self) -> "Device":
        if not self.source.strip():
            raise ValueError("source must name where the numbers come from")
        nominal = GAUGE_OUTER_DIAMETER_MM.get(self.gauge or "")
        if nominal is not None and abs(nominal - self.outer_diameter_mm) > GAUGE_TOLERANCE_MM:
            raise ValueError(f"gauge {self.gauge} has an outer diameter of {nominal} mm, "
                             f"not {self.outer_diameter_mm} mm")
        return self

    @property
    def radius_mm(self) -> float:
        return self.outer_diameter_mm / 2.0

    @property
    def label(self) -> str:
        """The name, marked when its numbers are not all verified (for choosers and tables)."""
        return self.name if self.verified else f"{self.name} (illustrative)"


class AblationSetting(BaseModel):
    """One setting of an ablation probe (power/time or protocol) and the zone the catalog gives for it.

    The lethal zone is an ellipsoid along the probe axis (`lethal_length_mm` along it,
    `lethal_width_mm` across), centred `tip_offset_mm` behind the tip. RF/MW settings give
    the thickness of the 45 degC shell beyond it (`shell_45c_mm`); cryo settings give the
    isotherm sizes {"0": [length, width], "-20": [...], "-40": [...]} (mm).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    id: str = Field(min_length=1, max_length=128, pattern=r"^[a-z0-9][a-z0-9._\-]*$")
    label: str = Field(min_length=1, max_length=200)
    lethal_length_mm: float = Field(gt=0, le=200)
    lethal_width_mm: float = Field(gt=0, le=200)
    tip_offset_mm: float = Field(ge=-100, le=100)
    shell_45c_mm: float | None = Field(default=None, ge=0, le=100)
    isotherms: dict[str, tuple[float, float]] | None = None
    power_w: float | None = Field(default=None, gt=0, le=1000)
    temperature_c: float | None = Field(default=None, gt=-200, le=150)
    duration_min: float = Field(gt=0, le=180)
    source: str = Field(min_length=1, max_length=2000)
    verified: bool
    notes: str = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _consistent(self) -> "AblationSetting":
        if not self.source.strip():
            raise ValueError("source must name where the numbers come from")
        if self.isotherms is not None:
            if set(self.isotherms) != set(CRYO_ISOTHERMS_C):
                raise ValueError(f"isotherms must give exactly {list(CRYO_ISOTHERMS_C)} (degC), "
                                 f"got {sorted(self.isotherms)}")
            sizes = [self.isotherms[t] for t in CRYO_ISOTHERMS_C]
            if any(v <= 0 or v > 300 for size in sizes for v in size):
                raise ValueError("isotherm sizes must be positive lengths in mm (at most 300)")
            if any(a[0] < b[0] or a[1] < b[1] for a, b in zip(sizes, sizes[1:])):
                raise ValueError("isotherm sizes must shrink from 0 to -20 to -40 degC")
        return self


class AblationProbe(Device):
    """An RF probe, microwave antenna or cryoprobe with its settings (zone table) and zone model."""

    active_tip_mm: float = Field(gt=0, le=200)
    settings: tuple[AblationSetting, ...] = Field(min_length=1, max_length=100)
    # The entry-point name (group osteoplan.ablation_models) of the model computing its zones.
    zone_model: str = Field(default="builtin", min_length=1, max_length=128,
                            pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")

    @model_validator(mode="after")
    def _settings_fit_the_kind(self) -> "AblationProbe":
        ids = [s.id for s in self.settings]
        if len(ids) != len(set(ids)):
            raise ValueError("setting ids must be unique within a probe")
        for setting in self.settings:
            if self.kind is DeviceKind.CRYOPROBE and setting.isotherms is None:
                raise ValueError(f"settings[{setting.id}]: a cryoprobe setting needs its isotherms")
            if self.kind is not DeviceKind.CRYOPROBE and setting.shell_45c_mm is None:
                raise ValueError(f"settings[{setting.id}]: an RF/MW setting needs shell_45c_mm")
        return self

    @property
    def is_cryo(self) -> bool:
        return self.kind is DeviceKind.CRYOPROBE

    def setting(self, setting_id: str) -> AblationSetting:
        for setting in self.settings:
            if setting.id == setting_id:
                return setting
        known = ", ".join(repr(s.id) for s in self.settings)
        raise UnknownSettingError(f"device {self.id!r} has no setting {setting_id!r} (its settings: {known})")


class UnknownSettingError(OsteoPlanError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def is_ablation_probe(device: Device) -> bool:
    return isinstance(device, AblationProbe)


# Which model validates each kind: a kind with extra fields maps to its own subclass.
DEVICE_MODELS: dict[DeviceKind, type[Device]] = {kind: Device for kind in DeviceKind}
DEVICE_MODELS.update({kind: AblationProbe for kind in ABLATION_KINDS})


def parse_device(entry: Any, provider: str = "") -> Device:
    """Validate one entry as the model of its kind; raises ValueError with a readable message."""
    if not isinstance(entry, dict):
        raise ValueError(f"an entry must be an object, got {type(entry).__name__}")
    try:
        kind = DeviceKind(entry.get("kind"))
    except (ValueError, TypeError):
        known = ", ".join(k.value for k in DeviceKind)
        raise ValueError(f"kind: {entry.get('kind')!r} is not a device kind (known: {known})") from None
    try:
        return DEVICE_MODELS[kind].model_validate({**entry, "provider": provider})
    except ValidationError as exc:
        raise ValueError(_validation_summary(exc)) from None


def _validation_summary(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    more = len(exc.errors()) - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


class DeviceCatalog:
    """The devices known to this session, in a stable order, looked up by id."""

    def __init__(self, devices: Iterable[Device] = (), problems: Iterable[str] = ()) -> None:
        self._devices: dict[str, Device] = {}
        for device in devices:
            if device.id in self._devices:
                raise ValueError(f"two devices share the id {device.id!r}")
            self._devices[device.id] = device
        self._problems = tuple(problems)

    @property
    def devices(self) -> tuple[Device, ...]:
        return tuple(self._devices.values())

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._devices)

    @property
    def problems(self) -> tuple[str, ...]:
        """Human messages about plugins and entries that were skipped."""
        return self._problems

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._devices

    def __iter__(self) -> Iterator[Device]:
        return iter(self._devices.values())

    def __len__(self) -> int:
        return len(self._devices)

    def close_matches(self, device_id: str, count: int = 3) -> list[str]:
        text = str(device_id)
        matches = difflib.get_close_matches(text.lower(), list(self._devices), n=count, cutoff=0.6)
        if not matches:  # "11g" or "trocar-11" should still find the 11G trocars
            matches = [i for i in self._devices if text.lower() and text.lower() in i][:count]
        return matches

    def get(self, device_id: str) -> Device:
        try:
            return self._devices[device_id]
        except (KeyError, TypeError):
            raise UnknownDeviceError(str(device_id), self.close_matches(str(device_id)), len(self)) from None

    def of_kind(self, *kinds: DeviceKind | str) -> tuple[Device, ...]:
        wanted = {DeviceKind(k) for k in kinds}
        return tuple(d for d in self._devices.values() if d.kind in wanted)

    def listing(self) -> dict[str, list[dict[str, Any]]]:
        """The object `osteoplan devices --json` prints."""
        rows = []
        for device in self._devices.values():
            data = device.model_dump(mode="json")
            row = {key: data.pop(key) for key in LISTING_FIELDS}
            if "settings" in data:  # a probe's zone table: only the numbers a setting gives
                data["settings"] = [{k: v for k, v in item.items() if v is not None} for item in data["settings"]]
            row.update(data)  # a kind's own fields come after the common ones
            rows.append(row)
        return {"devices": rows}


Provider = Callable[[], Any]


def build_device_catalog(providers: Iterable[tuple[str, Provider]],
                         already_reported: Iterable[str] = ()) -> DeviceCatalog:
    """Call each provider and keep every valid entry; report the rest once each, and go on.

    `already_reported`: problems found before (e.g. plugins that failed to import), logged
    already, kept in the catalog's `problems`.
    """
    found: list[str] = list(already_reported)
    reported = len(found)
    devices: dict[str, Device] = {}
    for name, provider in providers:
        who = f"device catalog {name!r}"
        if not callable(provider):
            found.append(f"{who} is not callable (got {type(provider).__name__}); skipped")
            continue
        try:
            entries = provider() if name == BUILTIN else call_in_time(provider, who)
        except BaseException as exc:  # noqa: BLE001 - a broken (or hanging) plugin must not stop the app
            found.append(f"{who} failed and was skipped: {describe_error(exc)}")
            continue
        if not isinstance(entries, (list, tuple)):
            found.append(f"{who} returned {type(entries).__name__}, not a list of device entries; skipped")
            continue
        if len(entries) > MAX_DEVICES_PER_PROVIDER:
            found.append(f"{who} returned {len(entries)} entries (at most {MAX_DEVICES_PER_PROVIDER}); skipped")
            continue
        for number, entry in enumerate(entries):
            entry_id = entry.get("id") if isinstance(entry, dict) else None
            where = f"{who}, entry {number}" + (f" ({entry_id!r})" if isinstance(entry_id, str) else "")
            try:
                device = parse_device(entry, provider=name)
            except ValueError as exc:
                found.append(f"{where} is invalid and was skipped: {exc}")
                continue
            if device.id in devices:
                found.append(f"{where}: the id is already provided by {devices[device.id].provider!r}; skipped")
                continue
            devices[device.id] = device
    unique = list(dict.fromkeys(found))
    for problem in unique[reported:]:
        _log.warning("%s", problem)
    return DeviceCatalog(devices.values(), unique)


@lru_cache(maxsize=1)
def device_catalog() -> DeviceCatalog:
    """The catalog of every installed provider (built-in first), built once per process."""
    from osteoplan.core.entry_points import DEVICE_CATALOGS, load_plugins

    providers, problems = load_plugins(DEVICE_CATALOGS)
    return build_device_catalog(providers, already_reported=problems)


# The usual bone needle for each technique (Clarençon 2019: 11G and 13G for vertebroplasty);
# the first catalog device of the gauge is used.
DEFAULT_GAUGE = {TrajectoryKind.TRANSPEDICULAR: "11G", TrajectoryKind.PARAPEDICULAR: "11G",
                 TrajectoryKind.TRANSCORTICAL: "10G", TrajectoryKind.FREE: "11G"}


def default_trocar(catalog: DeviceCatalog, kind: TrajectoryKind) -> Device:
    """The technique's usual gauge, in its longest catalog length (a short needle is the worse surprise)."""
    trocars = [d for d in catalog.of_kind(DeviceKind.TROCAR) if d.length_mm is not None]
    gauge = DEFAULT_GAUGE.get(kind, "11G")
    candidates = [d for d in trocars if d.gauge == gauge] or trocars
    return max(candidates, key=lambda d: d.length_mm)
