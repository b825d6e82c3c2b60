"""Fleet releases: every package a release needs, from one manifest (docs/release.md).

``manifest`` (the TOML file), ``inputs`` (what it names, opened up front),
``plan`` (jobs, cache keys, tasks per source image), ``worker`` (what a
worker runs), ``executors`` (local pool, Ray), ``cache`` (content-addressed),
``routes`` (delta, full or minimal-system per deployed version), ``report``
(release.json), ``html`` (release.html), ``build`` (the whole run).  The
names the CLI uses are on ``otapack.api``; this package imports nothing, so
each command loads only what it uses.
"""
