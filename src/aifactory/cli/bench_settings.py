"""Settings of the portal served by `aifactory bench submit --tool locust`: the portal's own, with the URLs of
aifactory.cli.bench_control (the portal's, plus the benchmark's control endpoint). Only the benchmark uses them."""

from __future__ import annotations

from aifactory.portal import settings as _portal

globals().update({name: getattr(_portal, name) for name in dir(_portal) if name.isupper()})
ROOT_URLCONF = "aifactory.cli.bench_control"
