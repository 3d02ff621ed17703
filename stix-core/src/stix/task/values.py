"""Parsers for the scalar value forms of task YAML (cpus, memory, sizes, ports, gpus, infra).

Each parser returns the canonical form and raises ``Invalid`` with a short message.
Classes live elsewhere (``resources.py``); this module has no attrs models.
"""

from __future__ import annotations

import math
import re
from typing import Any

from stix.task.problems import Invalid, type_name

# Sizes in GiB per unit; every unit is binary (KB == KiB), as SkyPilot treats them.
_GIB_PER_UNIT: dict[str, float] = {}
for _i, _p in enumerate(("b", "k", "m", "g", "t", "p")):
    _factor = 1024.0 ** (_i - 3)
    for _suffix in ("", "b", "i", "ib"):
        if _p == "b" and _suffix:
            continue
        _GIB_PER_UNIT[_p + _suffix] = _factor
_GIB_PER_UNIT[""] = 1.0

_NUMBER = r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
MAX_DISK_GB = 64 * 1024  # 64 TiB, the largest volume the big clouds offer
MAX_ACCELERATORS = 1024  # per node; counts below 1 are fractions of one device
_MEMORY_FORM = re.compile(r"^[0-9]+(?:\.[0-9]+)?\s*[kmgtp]?i?b?\+?$", re.IGNORECASE)
_SIZE_RE = re.compile(rf"^{_NUMBER}\s*([a-z]*)$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DURATION_SECONDS = 10 * 366 * 86400


def fmt_number(value: float) -> str:
    """Shortest text for a number: ``4`` not ``4.0``; exact for fractions."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def count_value(value: float) -> int | float:
    """An accelerator count as int when integral, else float."""
    return int(value) if float(value).is_integer() else float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _split_plus(value: Any, field: str) -> tuple[str, bool]:
    if _is_number(value):
        return str(value), False
    if not isinstance(value, str):
        raise Invalid(
            f"{field} must be a number or a string like '4' or '4+', got {type_name(value)}"
        )
    text = value.strip()
    plus = text.endswith("+")
    return (text[:-1].strip() if plus else text), plus


def parse_cpus(value: Any) -> str | None:
    """``4``, ``"4"``, ``"4+"``, ``0.5`` -> canonical ``"4"`` / ``"4+"``."""
    if value is None:
        return None
    text, plus = _split_plus(value, "cpus")
    try:
        number = float(text)
    except ValueError:
        raise Invalid(f"invalid cpus {value!r}; use a number such as 4 or '4+'") from None
    if not math.isfinite(number) or number <= 0:
        raise Invalid(f"cpus must be a finite number > 0, got {brief(value)}")
    return fmt_number(number) + ("+" if plus else "")


def parse_size_gib(text: str, field: str, original: Any) -> float:
    """``"512MB"``, ``"1TB"``, ``"16"`` (GB) -> GiB as float."""
    match = _SIZE_RE.match(text.strip().lower())
    if not match or match.group(2) not in _GIB_PER_UNIT:
        raise Invalid(f"invalid {field} {original!r}; use a number of GB such as 16 or '16GB'")
    number = float(match.group(1)) * _GIB_PER_UNIT[match.group(2)]
    if not math.isfinite(number) or number <= 0:
        raise Invalid(f"{field} must be a finite size > 0, got {brief(original)}")
    return number


def parse_memory(value: Any) -> str | None:
    """Memory in GiB: ``"16"``, ``"16+"``, ``"512MB"`` -> ``"0.5"``; ``"4x"`` kept (GiB per vCPU)."""
    if value is None:
        return None
    text, plus = _split_plus(value, "memory")
    lowered = text.lower()
    if lowered.endswith("x") and not plus:
        try:
            ratio = float(lowered[:-1])
        except ValueError:
            raise Invalid(f"invalid memory {brief(value)}") from None
        if not math.isfinite(ratio) or ratio <= 0:
            raise Invalid(f"memory must be a finite number > 0, got {brief(value)}")
        return fmt_number(ratio) + "x"
    gib = parse_size_gib(text, "memory", value)
    return fmt_number(gib) + ("+" if plus else "")


def parse_disk_size(value: Any) -> int | None:
    """Disk size as whole GB: ``256``, ``"1TB"``, ``"512GB"``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise Invalid(
            f"disk_size must be a number of GB or a size like '512GB', got {type_name(value)}"
        )
    gib = parse_size_gib(str(value), "disk_size", value)
    if not gib.is_integer():
        raise Invalid(f"disk_size must be a whole number of GB, got {brief(value)}")
    if gib > MAX_DISK_GB:
        raise Invalid(f"disk_size must be at most {MAX_DISK_GB} GB (64 TiB), got {brief(value)}")
    return int(gib)


def parse_duration_seconds(value: Any, field: str) -> int:
    """``30``, ``"30s"``, ``"5m"``, ``"2h"``, ``"1d"``, ``"1w"`` -> seconds (bare number = seconds)."""
    return _parse_duration(value, field, default_unit="s") // 1


def parse_duration_minutes(value: Any, field: str) -> int:
    """Like ``parse_duration_seconds`` but a bare number means minutes; returns minutes."""
    seconds = _parse_duration(value, field, default_unit="m")
    return int(seconds // 60)


def _parse_duration(value: Any, field: str, default_unit: str) -> int:
    seconds = _duration_seconds(value, field, default_unit)
    if seconds > MAX_DURATION_SECONDS:
        raise Invalid(f"{field} must be at most ten years, got {brief(value)}")
    return seconds


def _duration_seconds(value: Any, field: str, default_unit: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise Invalid(f"{field} must be >= 0, got {brief(value)}")
        return value * _DURATION_UNITS[default_unit]
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a number or a duration like '30m', got {type_name(value)}")
    match = re.match(r"^([0-9]{1,12})\s*([smhdw]?)$", value.strip().lower())
    if not match:
        raise Invalid(
            f"invalid {field} {brief(value)}; use e.g. 30, '30s', '5m', '2h', '1d' or '1w'"
        )
    unit = match.group(2) or default_unit
    return int(match.group(1)) * _DURATION_UNITS[unit]


def brief(value: Any, limit: int = 40) -> str:
    """``repr`` of a value cut to ``limit`` characters, for one-line messages."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        return f"<an integer of over {limit} digits>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parse_count(raw: Any, spec: Any) -> int | float:
    if raw is None:
        return 1
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise Invalid(f"invalid accelerator count in {brief(spec)}")
    try:
        number = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise Invalid(f"invalid accelerator count in {brief(spec)}") from None
    if not math.isfinite(number) or number <= 0 or number > MAX_ACCELERATORS:
        raise Invalid(
            f"accelerator count must be > 0 and at most {MAX_ACCELERATORS} in {brief(spec)}"
        )
    return count_value(number)


def parse_accelerator_string(spec: str) -> tuple[str, int | float]:
    """``"V100"`` -> (V100, 1); ``"V100:4"``; ``"nvidia:80GB+:8"`` -> (nvidia:80GB+, 8)."""
    text = spec.strip()
    if not text:
        raise Invalid("accelerator name must not be empty")
    name, sep, tail = text.rpartition(":")
    if sep and re.match(r"^-?[0-9.]+$", tail.strip()):
        name = name.strip()
        if not name:
            raise Invalid(f"invalid accelerator {brief(spec)}")
        return name, _parse_count(tail.strip(), spec)
    if sep and not _MEMORY_FORM.match(tail.strip()):
        # ``A100:abc``, ``A100:nan``: a count that is no number, not part of the name
        # (names with a colon are the memory forms, ``nvidia:80GB+``)
        raise Invalid(f"invalid accelerator count {tail.strip()!r} in {brief(spec)}")
    return text, 1


def parse_accelerators(value: Any) -> tuple[list[tuple[str, int | float] | None], str]:
    """All accelerator forms -> (candidates, form); form is ``one``, ``set`` or ``list``.

    ``"V100:4"`` / ``{V100: 4}`` -> one; ``{V100, A100}`` (flow set) -> set; YAML list -> list.
    """
    if value is None:
        return [None], "one"
    if isinstance(value, str):
        return [parse_accelerator_string(value)], "one"
    if isinstance(value, dict):
        if not value:
            return [None], "one"
        items: list[tuple[str, int | float] | None] = []
        for name, raw in value.items():
            if not isinstance(name, str) or not name.strip():
                raise Invalid(f"invalid accelerator name {brief(name)}")
            if isinstance(raw, str) and raw.strip() == "":
                raw = None
            if raw is None:  # flow-set form: {A100:1, V100} has null values
                items.append(parse_accelerator_string(name))
            else:
                items.append((name.strip(), _parse_count(raw, {name: raw})))
        return items, ("one" if len(items) == 1 else "set")
    if isinstance(value, (list, tuple)):
        if not value:
            raise Invalid("accelerator list must not be empty")
        listed: list[tuple[str, int | float] | None] = []
        for entry in value:
            if isinstance(entry, str):
                listed.append(parse_accelerator_string(entry))
            elif isinstance(entry, dict) and len(entry) == 1:
                listed.extend(parse_accelerators(entry)[0])
            else:
                raise Invalid(f"invalid accelerator {entry!r} in list; use 'NAME:COUNT'")
        return listed, "list"
    raise Invalid(f"accelerators must be a string, mapping or list, got {type_name(value)}")


def parse_ports(value: Any) -> tuple[str, ...] | None:
    """``8080``, ``"8000-8010"``, ``"80,443"``, or a list of those -> merged sorted ranges."""
    if value is None:
        return None
    entries = value if isinstance(value, (list, tuple)) else [value]
    ranges: list[tuple[int, int]] = []
    for entry in entries:
        if isinstance(entry, bool):
            raise Invalid(f"invalid port {entry!r}")
        if isinstance(entry, int):
            ranges.append(_port_range(entry, entry, entry))
            continue
        if not isinstance(entry, str):
            raise Invalid(f"invalid port {entry!r}; use 8080, '8000-8010' or a list")
        for piece in entry.split(","):
            piece = piece.strip()
            match = re.match(r"^([0-9]+)(?:\s*-\s*([0-9]+))?$", piece)
            if not match:
                raise Invalid(f"invalid port {brief(piece)}; use 8080, '8000-8010' or a list")
            if max(len(g or "") for g in match.groups()) > 5:
                raise Invalid(f"port {brief(piece)} is outside 1-65535")
            low = int(match.group(1))
            high = int(match.group(2)) if match.group(2) else low
            ranges.append(_port_range(low, high, piece))
    if not ranges:
        return None
    ranges.sort()
    merged: list[list[int]] = [list(ranges[0])]
    for low, high in ranges[1:]:
        if low <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    return tuple(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in merged)


def _port_range(low: int, high: int, original: Any) -> tuple[int, int]:
    if not (1 <= low <= 65535 and 1 <= high <= 65535):
        raise Invalid(f"port {original!r} is outside 1-65535")
    if high < low:
        raise Invalid(f"invalid port range {original!r}")
    return low, high


def ports_to_list(ports: tuple[str, ...] | None) -> list[int]:
    """Every port number of normalised ``ports`` ranges."""
    out: list[int] = []
    for item in ports or ():
        low, _, high = item.partition("-")
        out.extend(range(int(low), int(high or low) + 1))
    return out


def parse_local_disk(value: Any) -> str | None:
    """``"nvme"``, ``"ssd:500+"``, ``"1TB"`` -> ``"mode:size[+]"`` (defaults nvme, 100+)."""
    if value is None:
        return None
    if not isinstance(value, str):
        if _is_number(value):
            value = str(value)
        else:
            raise Invalid(f"local_disk must be a string like 'nvme:500+', got {type_name(value)}")
    text = value.strip().lower()
    mode, sep, size = text.partition(":")
    if not sep:
        if text in ("nvme", "ssd"):
            mode, size = text, ""
        else:
            mode, size = "nvme", text
    if mode not in ("nvme", "ssd"):
        raise Invalid(f"invalid local_disk mode {mode!r}; use 'nvme' or 'ssd'")
    if not size:
        return f"{mode}:100+"
    plus = size.endswith("+")
    gib = parse_size_gib(size.rstrip("+"), "local_disk", value)
    return f"{mode}:{fmt_number(gib)}{'+' if plus else ''}"


_CLOUD_ALIASES = {"k8s": "kubernetes"}


def parse_infra(value: Any) -> tuple[str | None, str | None, str | None]:
    """``"aws/us-east-1/us-east-1a"`` -> (cloud, region, zone); ``*`` segments mean any."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"infra must be a string like 'aws/us-east-1', got {type_name(value)}")
    text = value.strip()
    text = text[:-1] if text.endswith("/") else text
    head, _, rest = text.partition("/")
    if not head.strip():
        raise Invalid(f"invalid infra {value!r}; use cloud[/region[/zone]], e.g. aws/us-east-1")
    cloud = normalise_cloud(head)
    if cloud in ("kubernetes", "ssh"):
        # a Kubernetes context (or SSH node pool) may itself contain slashes
        region = rest or None
        return cloud, (None if region == "*" else region), None
    parts = rest.split("/") if rest else []
    if len(parts) > 2 or any(not part.strip() for part in parts):
        raise Invalid(f"invalid infra {value!r}; use cloud[/region[/zone]]")
    region = parts[0] if parts else None
    zone = parts[1] if len(parts) > 1 else None
    region = None if region in ("*", "") else region
    zone = None if zone in ("*", "") else zone
    return cloud, region, zone


def normalise_cloud(name: Any) -> str | None:
    """Lower-case a cloud name and resolve aliases (``k8s``); ``*`` means any."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise Invalid(f"cloud must be a string, got {type_name(name)}")
    lowered = name.strip().lower()
    if lowered in ("", "*"):
        return None
    cloud = _CLOUD_ALIASES.get(lowered, lowered)
    from stix.task.clouds import check_cloud

    check_cloud(cloud)
    return cloud


def format_infra(cloud: str | None, region: str | None, zone: str | None) -> str | None:
    """Inverse of ``parse_infra``; None when nothing is pinned."""
    if cloud is None and region is None and zone is None:
        return None
    parts = [cloud or "*"]
    if region is not None or zone is not None:
        parts.append(region or "*")
    if zone is not None:
        parts.append(zone)
    return "/".join(parts)
