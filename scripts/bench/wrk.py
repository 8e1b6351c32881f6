"""Driving wrk and reading its figures."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    errors: int


def lua_script(body: bytes, headers: dict[str, str]) -> str:
    def quote(text: str) -> str:
        return "[==[" + text + "]==]"

    lines = ['wrk.method = "POST"', f"wrk.body = {quote(body.decode())}"]
    lines += [f"wrk.headers[ {quote(k)} ] = {quote(v)}" for k, v in headers.items()]
    return "\n".join(lines) + "\n"


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        raise ValueError(f"unreadable latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run(
    url: str, body: bytes, headers: dict[str, str], *, seconds: float, connections: int, core: int | None
) -> WrkResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua_script(body, headers))
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s", script.name, url]
    if core is not None:
        command = ["taskset", "-c", str(core), *command]
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    finally:
        Path(script.name).unlink()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return WrkResult(
        rps, p50, p99, total, int(non_2xx.group(1)) if non_2xx else 0, sum(map(int, errors.groups())) if errors else 0
    )
