"""Accelerator names: canonical spelling, aliases and memory-based requests.

A request such as ``a100-80gb``, ``RTX 4090``, ``80GB+`` or ``nvidia:48GB``
resolves to the list of accelerator names the catalogs actually use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import attrs

# Names different catalogs spell differently for the same device.
_ALIAS_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"a100", "a100-40gb"}),
    frozenset({"a100-80gb", "a100-80g"}),
    frozenset({"a6000", "rtxa6000", "rtx-a6000"}),
    frozenset({"mi25", "radeon mi25"}),
    frozenset({"h100-mega", "h100-mega-80gb"}),
    frozenset({"h100", "h100-80gb"}),
    frozenset({"v100-32gb", "v100-32g"}),
)

_MEMORY_FORM = re.compile(
    r"^(?:(?P<maker>[a-z][a-z0-9 ]*):)?(?P<size>\d+(?:\.\d+)?)\s*(?P<unit>gb|gib|g)(?P<plus>\+)?$",
    re.IGNORECASE,
)


@attrs.frozen
class GpuSpec:
    """What the catalogs know about one accelerator name."""

    name: str
    memory_gib: float | None = None
    manufacturer: str | None = None


@attrs.frozen
class MemoryRequest:
    """A memory-based accelerator request such as ``nvidia:80GB+``."""

    gib: float
    at_least: bool
    manufacturer: str | None = None

    def matches(self, spec: GpuSpec) -> bool:
        """Whether a device satisfies the request."""
        if spec.memory_gib is None:
            return False
        if self.manufacturer and (spec.manufacturer or "").lower() != self.manufacturer:
            return False
        # catalogs round device memory differently (79.65 vs 80 GiB): allow 3%
        if self.at_least:
            return spec.memory_gib >= self.gib * 0.97
        return abs(spec.memory_gib - self.gib) <= self.gib * 0.03


def loose_key(name: str) -> str:
    """Lower case with separators removed: ``RTX 6000-Ada`` -> ``rtx6000ada``."""
    return re.sub(r"[\s_\-]", "", name.lower())


def parse_memory_request(text: str) -> MemoryRequest | None:
    """Parse ``80GB+``, ``48GB`` or ``nvidia:80GB+``; ``None`` when ``text`` is a device name."""
    match = _MEMORY_FORM.match(text.strip())
    if match is None:
        return None
    maker = match.group("maker")
    return MemoryRequest(
        gib=float(match.group("size")),
        at_least=bool(match.group("plus")),
        manufacturer=maker.strip().lower() if maker else None,
    )


def split_request(name: str, count: float | None) -> tuple[str, float]:
    """Split ``nvidia:80GB+:8`` style names carrying their own count.

    :returns: ``(name, count)`` with the count defaulting to 1.
    """
    head, sep, tail = name.rpartition(":")
    if sep and head and re.fullmatch(r"\d+(\.\d+)?", tail) and count in (None, 1):
        return head, float(tail)
    return name, float(count if count is not None else 1)


def resolve(name: str, known: Mapping[str, GpuSpec]) -> list[str]:
    """Catalog names matching a requested accelerator ``name`` (empty if none).

    :param known: every accelerator name present in the catalogs, keyed by the
        name itself.
    """
    memory = parse_memory_request(name)
    if memory is not None:
        return sorted(n for n, spec in known.items() if memory.matches(spec))
    lowered = name.strip().lower()
    exact = [n for n in known if n.lower() == lowered]
    if exact:
        found = set(exact)
    else:
        key = loose_key(lowered)
        found = {n for n in known if loose_key(n) == key}
    for group in _ALIAS_GROUPS:
        if lowered in group or loose_key(lowered) in {loose_key(g) for g in group}:
            keys = {loose_key(g) for g in group}
            found |= {n for n in known if loose_key(n) in keys}
    return sorted(found)


def suggest(name: str, known: Iterable[str], limit: int = 5) -> list[str]:
    """Names close to ``name`` for a "did you mean" hint."""
    import difflib

    names = list(known)
    key = loose_key(name)
    contains = [n for n in names if key and (key in loose_key(n) or loose_key(n) in key)]
    close = difflib.get_close_matches(name, names, n=limit, cutoff=0.5)
    out: list[str] = []
    for n in [*contains, *close]:
        if n not in out:
            out.append(n)
    return out[:limit]


_VENDOR_WORDS = {"NVIDIA", "GEFORCE", "TESLA", "AMD", "INSTINCT", "INTEL"}
_FORM_FACTORS = {"SXM", "SXM2", "SXM4", "SXM5", "SXM6", "PCIE", "NVL", "OAM", "HBM3", "HBM3E"}


def from_product_name(product: str, memory_gib: float | None = None) -> str:
    """The catalog name of a GPU from a provider's product name, for catalog plugins.

    Vendor words and form factors go, ``RTX A6000`` becomes ``A6000``, ``Ada``
    becomes a ``-Ada`` suffix and an A100 with 80 GB becomes ``A100-80GB``:
    ``NVIDIA GeForce RTX 4090`` -> ``RTX4090``, ``A100 SXM4`` (80 GB) -> ``A100-80GB``,
    ``RTX 6000Ada`` -> ``RTX6000-Ada``, ``Tesla V100`` -> ``V100``.

    :param product: the provider's name of the device.
    :param memory_gib: memory of one device, when known.
    :returns: a name the optimizer compares across clouds.
    """
    text = re.sub(r"(?<=\d)Ada\b", " Ada", product.replace("_", " ").replace("-", " "))
    words = [w for w in text.split() if w.upper() not in _VENDOR_WORDS | _FORM_FACTORS]
    if re.fullmatch(r"\d+GB", words[-1] if words else "", re.IGNORECASE):
        words = words[:-1]
    if len(words) > 1 and words[0].upper() == "RTX" and re.fullmatch(r"A\d+", words[1], re.I):
        words = words[1:]
    ada = any(w.lower() == "ada" for w in words)
    name = "".join(w for w in words if w.lower() != "ada") + ("-Ada" if ada else "")
    if name.upper() == "A100" and (memory_gib or 0) >= 79:
        name = "A100-80GB"
    return name or product.strip()


__all__ = [
    "GpuSpec",
    "MemoryRequest",
    "from_product_name",
    "loose_key",
    "parse_memory_request",
    "resolve",
    "split_request",
    "suggest",
]
