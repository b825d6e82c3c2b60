"""Delta-v2 prototype: the operand-aware add (docs/formats/delta-v2-transforms.md).

Device side (standard library only): ``engine`` (the transformed old bytes),
``kinds`` (the encodings per arch), ``section`` (the stream's transform
section), ``restore`` (a streaming delta-v2 restore built on the v1 one),
``wire`` (the numbers).  Builder side: ``builder`` (observations, map and
region fitting, trials, streams).  Tests: ``reference`` (an in-memory
applier written from the spec).  Not yet wired into the package format.
"""
