# Managed by the svc python-service template: `svc update` keeps this file current.
# A local edit meets the next template change as a merge conflict: change it upstream.
"""Catches a mistyped `SVC_` variable before it silently leaves a setting at its default.

`SVC_REGSITRY_URL=etcd://...` would otherwise register the service in the local file
registry, where nobody looks. Only names a small edit away from a known setting are
reported: other `SVC_` variables belong to other tools (svc's own `SVC_CONFIG`, the API
checks' `SVC_API_*`) or to Kubernetes, which names its service links `<NAME>_PORT_...`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

PREFIX = "SVC_"
MAX_DISTANCE = 2
_OTHERS = re.compile(
    r"SVC_(CONFIG|API_\w*|TEST_\w*)"
    # Kubernetes service links of a Service whose name starts with "svc".
    r"|\w*?_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT(_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)"
)


def near_misses(environ: Mapping[str, str], known: Iterable[str]) -> list[tuple[str, str]]:
    """(variable set, the known one it is close to) for each likely typo in `environ`."""
    known = {name.upper() for name in known}
    misses = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper in known or _OTHERS.fullmatch(upper):
            continue
        distance, closest = min((edit_distance(upper, candidate), candidate) for candidate in known)
        if distance <= MAX_DISTANCE:
            misses.append((name, closest))
    return misses


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment): a swap of neighbours costs 1."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        previous2, previous = previous, current
    return previous[-1]
