"""Minimal-system upgrades: two chained packages for modules whose flash
cannot hold a single-stage package (docs/minimal-system.md).

Phase 1: the device runs OLD and stores **stage 1** in the phase-1 download
area; stage 1 installs the minimal system (MINI, padded to its slot) into
``[minimal_system].partition``.  Reboot.  Phase 2: the minimal system runs,
stores **stage 2** in the phase-2 download area; stage 2 takes the flash to
NEW (program images delta or full, file systems and download areas in full).

The chain: each stage's ``chain-prev-state`` extension is the digest of the
flash state it starts from; stage 1's ``chain-next-package`` is stage 2's
body SHA-256, so a device that ran stage 1 accepts only that stage 2.  Each
stage's ``budget`` extension records the flash it needs against the download
area of its phase.  The byte layouts are declared in
``otapack.core.formats.extensions``.

One job per module (the public names are also on ``otapack.api``)::

    config   MinimalConfig.from_layout(layout, partition=..., stage1_download=..., stage2_download=...)
    state    install_minimal(old, mini, partition) -> FirmwareImage; coverage, image_state (the device's side: core.restore.chain)
    budget   StageFigures (one stage's flash need), budget_error
    build    build_minimal(old, new, mini, config, opts, check_budget=True) -> MinimalResult
    plan     plan_upgrade(old, new, config, opts, mini=None) -> UpgradePlan
    chain    verify_chain(packages, old, new=None, opts, capacities=...) -> ChainReport
    inspect  decode_extensions(package) -> dict (``info``)
"""
