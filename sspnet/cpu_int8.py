"""Which INT8 form ONNX Runtime's x86 CPU kernels run exactly on a given CPU, from its ISA flags.

ONNX Runtime's u8×s8 convolutions (QLinearConv; every Q/DQ conv it fuses, the symmetric TensorRT form included,
whose int8 activations it shifts to uint8) multiply pairs of bytes and add each pair in a saturating int16 on x86
CPUs without VNNI (SSE4.1, AVX2, AVX-512F/BW: ``vpmaddubsw``). With 8-bit weights a pair can exceed 32767, so sums
clip and scores drift (measured on an AVX2 AMD EPYC: mean |Δscore| 0.065 against 0.017 without saturation). VNNI
(``avx512_vnni``, ``avx_vnni``) and AMX accumulate in int32 and never saturate. The fix that keeps the fast kernel
is 7-bit weights (ONNX Runtime's ``reduce_range``): a pair then fits in int16.

Forms of ``sspnet calibrate --target cpu``:
- ``vnni``: 8-bit weights; exact only where the CPU has VNNI (or AMX);
- ``avx2``: 7-bit weights; exact on every x86 CPU, at the cost of one bit of weight precision.
"""
from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
NO_SATURATION_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
CPU_FORMS = {
    "vnni": {"weight_bits": 8, "reduce_range": False,
             "isa": "x86 with VNNI or AMX (avx512_vnni / avx_vnni / amx_int8): int32 accumulation"},
    "avx2": {"weight_bits": 7, "reduce_range": True,
             "isa": "any x86 (SSE4.1 / AVX2 / AVX-512 without VNNI): 7-bit weights keep int16 pair sums exact"},
}


@dataclass(frozen=True)
class CpuInfo:
    model: str
    flags: tuple          # the ISA_FLAGS this CPU has

    @property
    def saturates(self) -> bool:
        """True where 8-bit-weight u8×s8 kernels can saturate (x86 without VNNI/AMX)."""
        return self.is_x86 and not any(f in self.flags for f in NO_SATURATION_FLAGS)

    @property
    def is_x86(self) -> bool:
        return platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")

    def to_dict(self) -> dict:
        return {"model": self.model, "flags": list(self.flags)}


def cpu_info(cpuinfo: str | Path = "/proc/cpuinfo") -> CpuInfo:
    """This machine's CPU model name and which of ``ISA_FLAGS`` it has (empty flags where /proc is missing)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return CpuInfo(model=platform.processor() or platform.machine(), flags=())
    model, flags = platform.machine(), set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == platform.machine():
            model = value.strip()
        elif key == "flags":
            flags |= set(value.split())
    return CpuInfo(model=model, flags=tuple(f for f in ISA_FLAGS if f in flags))


def form_for(cpu: CpuInfo) -> str:
    """The CPU form that runs exactly and fastest on ``cpu``."""
    return "avx2" if cpu.saturates else "vnni"


def mismatch_warning(model_name: str, form: str | None, cpu: CpuInfo) -> str | None:
    """A one-line warning when an INT8 model of CPU form ``form`` (None: the TensorRT form) loses accuracy on
    ``cpu``, naming the command that fixes it; None when it runs exactly."""
    if not cpu.saturates or CPU_FORMS.get(form, {}).get("weight_bits") == 7:
        return None
    made_for = "the TensorRT form (8-bit weights)" if form is None else f"CPU form '{form}' (8-bit weights, VNNI)"
    return (f"warning: {model_name} is {made_for}; this CPU ({cpu.model}; {', '.join(cpu.flags) or 'no AVX2'}) has "
            f"no VNNI, so ONNX Runtime's int8 kernels can saturate and scores drift. Fix: sspnet calibrate "
            f"--target cpu --cpu-form avx2 (7-bit weights, same speed)")
