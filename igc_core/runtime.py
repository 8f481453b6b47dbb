"""How to run the search on this machine: precision and threads, measured here, not assumed.

Machines differ: on a CPU with native bfloat16 (AVX-512 BF16, AMX) a bf16 search was 2.3x faster than fp32; on
a CPU with AVX2 only it was 10-40x slower. And a busy neighbour process makes torch's OpenMP threads wait on
each other at every barrier: a search that took 18 s on one thread took 128 s on two. So:

- precision "auto": fp32 unless the CPU has native bf16 *and* a short calibration at the batch size at hand
  (one search step, both precisions, timed) says bf16 is clearly faster. Calibrations are cached per machine,
  torch version, model shape and batch size in `~/.cache/igc/runtime.json` (`$IGC_CACHE` overrides the folder),
  so a given machine always makes the same choice and a result never depends on timing noise. The cache is a
  hint: an unreadable, implausible or hostile one is measured again, never trusted or fatal; a choice is made
  once per process; and where the cache cannot be written, fp32 is chosen (a choice timed anew by every run
  would flip on timing noise).
- threads "auto" (0): a `ThreadTuner` times the search's own steps with 1..max threads, keeps the fastest, and
  probes again every few seconds, so a neighbour that starts or stops mid-search is noticed. Thread counts
  change floating-point summation order only in the last bits.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import torch

BF16_SPEEDUP_NEEDED = 1.15  # bf16 must beat fp32 by this much to be chosen (rounding costs a little accuracy)
CALIBRATION_ROUNDS = 5  # fp32 and bf16 timed in turn this many times; the fastest of each counts
_cache_lock = threading.Lock()


# ------------------------------------------------------------------------------------------- the CPU


def cpu_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16() -> tuple[bool, str]:
    """Whether this CPU computes bfloat16 natively, and the evidence, in words.

    Without native support (AVX2-only CPUs, most laptops) oneDNN emulates bf16 and is many times slower than
    fp32, so such CPUs are never calibrated: it would cost seconds to learn what is already known.
    """
    capability = torch.backends.cpu.get_cpu_capability()  # "AVX2", "AVX512", "DEFAULT", ...
    flags = _cpu_flags()
    if flags:
        native = sorted(flags & {"avx512_bf16", "amx_bf16"})
        if native:
            return True, f"{capability}, {' and '.join(native)}"
        return False, f"{capability} without avx512_bf16/amx_bf16"
    # not Linux: no flags to read; bf16 is native on recent AVX-512 CPUs only, and the calibration decides
    try:
        supported = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        supported = False
    ok = capability.startswith("AVX512") and supported
    return ok, f"{capability}{', oneDNN bf16' if supported else ''}"


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------------------------------- precision


def cache_path() -> Path:
    """runtime.json in `$IGC_CACHE` if set, else in the per-user cache folder (~/.cache/igc)."""
    from .files import user_path

    return user_path("IGC_CACHE", "cache") / "runtime.json"


MAX_CACHE_BYTES = 1 << 20  # a cache of a few hundred entries is some 100 kB
PLAUSIBLE_STEP_SECONDS = (1e-7, 60.0)  # one timed search step; anything outside was not measured here
PLAUSIBLE_RATIO = 50.0  # fp32 / bf16 beyond 50x either way is no CPU's (measured: 0.03x to 2.3x)


def _read_cache() -> dict:
    """The calibration cache, or {} when it is missing, unreadable, not a regular file, too large, too deeply
    nested or not JSON: it is a hint, never a reason to fail."""
    from .files import load_json

    try:
        doc = load_json(cache_path(), MAX_CACHE_BYTES, "cache")
    except Exception:  # any problem with a hint means measuring again
        return {}
    return doc if isinstance(doc, dict) else {}


def _plausible(entry: object) -> bool:
    """Whether a cached calibration looks measured: both step times finite and plausible, their ratio too."""
    if not isinstance(entry, dict):
        return False
    times = [entry.get("fp32"), entry.get("bf16")]
    low, high = PLAUSIBLE_STEP_SECONDS
    if not all(isinstance(t, float) and low <= t <= high for t in times):
        return False
    return 1 / PLAUSIBLE_RATIO <= times[0] / times[1] <= PLAUSIBLE_RATIO


def _write_cache(key: str, value: dict) -> bool:
    """Add an entry to the cache, written whole or not at all; False when it cannot be written (a full disk, a
    read-only or missing folder, a folder where the file goes), leaving no temporary file behind."""
    from .files import write_atomically

    path = cache_path()
    with _cache_lock:
        doc = _read_cache()
        doc[key] = value
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())
        except (OSError, ValueError):
            return False
    return True


def _bucket(rows: int) -> int:
    """Batch sizes are calibrated in powers of two (a 2,560-row chunk and a 2,048-row one behave alike)."""
    return 1 << max(0, (max(rows, 1) - 1).bit_length())


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str  # "fp32" or "bf16"
    reason: str  # in words, for `igc bench` and the app's status line


def choose_precision(generator, rows: int, device: torch.device, requested: str = "auto") -> PrecisionChoice:
    """The precision a search of `rows` latents per step should use on this machine.

    An explicit "fp32"/"bf16" is honoured. "auto" on a GPU is fp32 (small decoders are launch-bound there);
    on a CPU it is bf16 only where the CPU has native bf16 and a timed step at this batch size is at least
    BF16_SPEEDUP_NEEDED times faster than fp32 (cached per machine, so the choice is repeatable).
    """
    if requested != "auto":
        return PrecisionChoice(requested, "chosen in the settings")
    if device.type != "cpu":
        return PrecisionChoice("fp32", f"{device.type} device")
    native, evidence = native_bf16()
    if not native:
        return PrecisionChoice("fp32", f"no native bfloat16 on this CPU ({evidence})")
    bucket = _bucket(rows)
    key = "|".join((cpu_name(), f"torch {torch.__version__}", _model_signature(generator), f"rows {bucket}"))
    remembered = (str(cache_path()), key)
    if remembered in _chosen:  # within a process a choice is made once, whatever the cache does meanwhile
        return _chosen[remembered]
    cached = _read_cache().get(key)
    if not _plausible(cached):
        cached = _calibrate(generator, bucket, device)
        if not _write_cache(key, cached):
            # a choice that cannot be remembered would be timed again by every run, and timing noise near the
            # threshold would flip it (other distances from identical runs): fp32 is the repeatable choice
            choice = PrecisionChoice("fp32", f"the calibration cache {cache_path()} cannot be written; fp32 keeps "
                                             "runs repeatable")
            _chosen[remembered] = choice
            return choice
    ratio = cached["fp32"] / max(cached["bf16"], 1e-9)
    if ratio >= BF16_SPEEDUP_NEEDED:
        choice = PrecisionChoice("bf16", f"native bfloat16 ({evidence}), {ratio:.1f}x faster than fp32 at {bucket} latents")
    else:
        choice = PrecisionChoice("fp32", f"bfloat16 only {ratio:.2f}x fp32's speed at {bucket} latents on this CPU")
    _chosen[remembered] = choice
    return choice


_chosen: dict[tuple[str, str], PrecisionChoice] = {}  # (cache file, key) -> the choice this process made


def _model_signature(generator) -> str:
    shapes = ",".join(f"{tuple(p.shape)}" for p in generator.parameters())
    return f"{type(generator).__name__}[{hashlib.sha1(shapes.encode()).hexdigest()[:10]}]"


def _calibrate(generator, rows: int, device: torch.device) -> dict:
    """Seconds per search step in fp32 and in bf16, timed in turn on one thread.

    Taking turns (and keeping the fastest of each) makes a busy moment slow both alike instead of biasing the
    comparison; one thread is where the thread tuner starts and what a busy machine ends up using.
    """
    fp32, bf16 = _search_step(generator, rows, device, False), _search_step(generator, rows, device, True)
    threads = torch.get_num_threads()
    flags = [p.requires_grad for p in generator.parameters()]
    generator.requires_grad_(False)  # as in the search: no weight gradients
    torch.set_num_threads(1)
    try:
        fp32(), bf16()  # warm-up (kernel selection, allocation)
        best = {"fp32": float("inf"), "bf16": float("inf")}
        for _ in range(CALIBRATION_ROUNDS):
            for name, step in (("fp32", fp32), ("bf16", bf16)):
                started = time.perf_counter()
                step()
                best[name] = min(best[name], time.perf_counter() - started)
        return best
    finally:
        torch.set_num_threads(threads)
        for p, flag in zip(generator.parameters(), flags):
            p.requires_grad_(flag)


def _search_step(generator, rows: int, device: torch.device, bf16: bool):
    """A function running one search step (decode, and the gradient with respect to z) on `rows` latents."""
    rng = torch.Generator(device="cpu").manual_seed(0)
    z = (generator.prior_mean.detach().cpu() + generator.prior_std.detach().cpu()
         * torch.randn(rows, generator.latent_dim, generator=rng)).to(device)
    labels = torch.arange(rows, device=device) % generator.num_classes
    cond = generator.one_hot(labels)

    def step() -> None:
        zr = z.clone().requires_grad_(True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = generator.decode_logits(zr, cond)
        torch.autograd.grad(out.float().abs().mean(), zr)

    return step


# ------------------------------------------------------------------------------------------ threads


def check_threads(threads: int | None) -> None:
    """Refuse a thread count that is not a whole number >= 0 (0 or None: automatic)."""
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads must be a whole number, 1 or more, or 0 for automatic (got {threads!r})")


class ThreadTuner:
    """Chooses torch's thread count for a loop of equal steps by timing the steps themselves.

    It starts on one thread (never catastrophically slow), then tries each other count for up to
    `probe_steps` steps, giving up on a count at its first step that is clearly slower than the current
    one's recent median (two threads next to a busy process can be 6x slower: a probe must be cheap), and
    keeps the fastest. The trial round repeats after `recheck_seconds`, doubling
    (up to `max_recheck_seconds`) while the choice holds, so a neighbour that starts or stops is noticed at
    little cost. With `threads` > 0 the count is fixed and nothing is timed. `close()` restores the
    process-wide count.
    """

    def __init__(self, threads: int = 0, max_threads: int | None = None, probe_steps: int = 3,
                 recheck_seconds: float = 2.0, max_recheck_seconds: float = 32.0):
        check_threads(threads)
        self.original = torch.get_num_threads()
        top = max(1, min(max_threads or available_cores(), available_cores()))
        self.candidates = [threads] if threads else list(range(1, top + 1))
        self.current = self.candidates[0]
        self.probe_steps = probe_steps
        self.base_interval = self.interval = recheck_seconds
        self.max_interval = max_recheck_seconds
        self._recent: deque[float] = deque(maxlen=5)  # the current count's latest step times
        self._pending: list[int] = []  # counts still to try in this round
        self._trial: int | None = None  # the count being tried now
        self._trial_times: list[float] = []
        self._results: dict[int, float] = {}
        self._last_round: float | None = None  # None: the first round starts after three steps
        self._started = 0.0

    @property
    def fixed(self) -> bool:
        return len(self.candidates) == 1

    def new_phase(self) -> None:
        """The steps' cost changes (another chunk of images, classes pruned): old timings no longer compare."""
        self._recent.clear()
        self._trial, self._pending = None, []

    def begin(self) -> None:
        """Call before a step: sets the thread count for it."""
        n = self._trial if self._trial is not None else self.current
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        self._started = time.perf_counter()

    def end(self) -> None:
        """Call after the step: records its time and decides what the next step runs on."""
        now = time.perf_counter()
        seconds = now - self._started
        if self.fixed:
            return
        if self._trial is None:
            self._recent.append(seconds)
            due = self._last_round is None or now - self._last_round > self.interval
            if len(self._recent) >= 3 and due:
                self._pending = [n for n in self.candidates if n != self.current]
                self._results = {}
                self._next_trial()
            return
        reference = _median(self._recent)
        self._trial_times.append(seconds)
        too_slow = seconds > 1.5 * reference  # one clearly slow step is enough to give a count up
        if too_slow or len(self._trial_times) >= self.probe_steps:
            self._results[self._trial] = float("inf") if too_slow else _median(self._trial_times)
            self._next_trial()

    def _next_trial(self) -> None:
        self._trial_times = []
        if self._pending:
            self._trial = self._pending.pop(0)
            return
        self._trial = None
        self._last_round = time.perf_counter()
        best = min(self._results, key=self._results.get, default=self.current)
        if self._results.get(best, float("inf")) < 0.9 * _median(self._recent):
            self.current = best
            self._recent.clear()
            self.interval = self.base_interval
        else:
            self.interval = min(2 * self.interval, self.max_interval)

    def close(self) -> None:
        torch.set_num_threads(self.original)


def _median(values) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else float("inf")
