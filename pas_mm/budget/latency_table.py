"""Per-layer latency tables: measured once per device, cached, interpolated.

A table holds, for one conv/linear layer at its input size, the latency in
milliseconds of the *deployed* layer (a conv with bias followed by ReLU, as
RepVGG/ResNet blocks deploy; a linear layer alone) on a grid of kept input
and output widths. Between grid points the latency is bilinear in the
widths, so a model's predicted latency is differentiable in its gates like
its MACs. Tables are kept in one JSON file, keyed by the device (CPU model
or GPU name, threads, torch version) and the layer's shape, so a layer
measured once is never measured again on that device.
"""
import json
import os
import os.path as osp
import platform
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..errors import PaSConfigError
from .macs_counter import MACsEntry

DEFAULT_TABLE_FILE = osp.join('~', '.cache', 'pas_mm', 'latency_tables.json')
MEASURE_ROUNDS = 3  # passes over a layer's grid points
Grid = Tuple[List[int], List[int], List[List[float]]]  # in, out, ms[in][out]


def resolve_device(device: Optional[str]) -> str:
    """'cpu' or 'cuda' (None: cuda where present)."""
    if device is None:
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    if device not in ('cpu', 'cuda'):
        raise PaSConfigError(f"latency device {device!r} must be 'cpu', "
                             "'cuda' or None (cuda where present)")
    if device == 'cuda' and not torch.cuda.is_available():
        raise PaSConfigError("latency device 'cuda' is not available here; "
                             "measure on the target device or use 'cpu'")
    return device


def device_name(device: str, threads: int) -> str:
    """Key of a device in the table file, e.g. 'cpu: Intel(R) Xeon(R) ...,
    1 thread, torch 2.13.0'."""
    if device == 'cuda':
        what = torch.cuda.get_device_name()
    else:
        what = platform.processor() or platform.machine()
        try:
            with open('/proc/cpuinfo') as f:
                what = next(line.split(':', 1)[1].strip() for line in f
                            if line.startswith('model name'))
        except (OSError, StopIteration):
            pass
        what += f", {threads} thread{'s' if threads > 1 else ''}"
    return f'{device}: {what}, torch {torch.__version__}'


def call_times(run: Callable[[], object], threads: int,
               min_run_time: float, device: str = 'cpu',
               min_calls: int = 10) -> List[float]:
    """Milliseconds of each call of ``run()``, called for at least
    ``min_run_time`` seconds and ``min_calls`` times after a warm-up, with
    ``threads`` CPU threads (CUDA synchronized around each call)."""
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for _ in range(3):
            run()
        times: List[float] = []
        start = time.perf_counter()
        while (len(times) < min_calls
               or time.perf_counter() - start < min_run_time):
            sync()
            t0 = time.perf_counter()
            run()
            sync()
            times.append((time.perf_counter() - t0) * 1e3)
    finally:
        torch.set_num_threads(old)
    return times


def low_quantile(times: Sequence[float], q: float = 0.2) -> float:
    """The ``q`` quantile: on a shared machine other work only ever adds
    time, so a low quantile is nearer a model's own time than the mean."""
    times = sorted(times)
    return times[int(q * (len(times) - 1))]


def grid_points(low: int, high: int, n: int, multiple: int = 1) -> List[int]:
    """About ``n`` widths from ``low`` to ``high``, multiples of ``multiple``
    (the width of a grouped conv)."""
    pts = torch.linspace(low, high, max(1, min(n, high - low + 1)))
    pts = {min(high, -(-int(round(float(p))) // multiple) * multiple)
           for p in pts}
    return sorted(pts | {high})


def _deployed_layer(entry: MACsEntry, c_in: int, c_out: int) -> nn.Module:
    """The layer of ``entry`` as deployed, with ``c_in``/``c_out`` kept."""
    m = entry.module
    if isinstance(m, nn.Linear):
        return nn.Linear(c_in, c_out)
    groups = c_out if entry.depthwise else m.groups
    conv = (nn.ConvTranspose2d if isinstance(m, nn.ConvTranspose2d) else
            nn.Conv2d)(c_in, c_out, m.kernel_size, m.stride, m.padding,
                       dilation=m.dilation, groups=groups, bias=True)
    return nn.Sequential(conv, nn.ReLU(inplace=True))


def _layer_input(entry: MACsEntry, shape: Sequence[int], channels: int,
                 batch_size: int) -> torch.Tensor:
    """A random input of the layer: ``shape`` (profiled at batch 1) with
    ``channels`` channels (last dim of a linear layer's input, dim 1 of a
    conv's) and ``batch_size`` times the rows."""
    shape = [shape[0] * batch_size, *shape[1:]]
    shape[-1 if isinstance(entry.module, nn.Linear) else 1] = channels
    return torch.randn(shape)


def layer_key(entry: MACsEntry, shape: Sequence[int], batch_size: int,
              in_pts: List[int], out_pts: List[int]) -> str:
    """Readable key of one layer at one input shape and grid."""
    m = entry.module
    if isinstance(m, nn.Linear):
        what = 'Linear'
    else:
        what = (f'{type(m).__name__} {m.kernel_size[0]}x{m.kernel_size[1]} '
                f's{m.stride[0]} p{m.padding[0]} d{m.dilation[0]} '
                f"g{'dw' if entry.depthwise else m.groups}")
    rows = 'x'.join(str(s) for s in (shape[0] * batch_size, *shape[2:]))
    return (f'{what}, input {rows}, in {in_pts[0]}..{in_pts[-1]} '
            f'({len(in_pts)} pts), out {out_pts[0]}..{out_pts[-1]} '
            f'({len(out_pts)} pts)')


class LatencyTable:
    """The latency tables of one device, backed by a JSON file.

    Args:
        path: the table file (shared by every model and device).
        device: 'cpu' or 'cuda' (None: cuda where present).
        batch_size: the batch the latency is for.
        threads: CPU threads while timing (the deploy measurement uses the
            same).
        measure: measure the layers missing from the file; False raises
            :class:`PaSConfigError` instead (e.g. training on one machine
            for another: measure there with ``tools/latency_table.py``).
        grid: grid points per gated width.
        min_run_time: seconds of timing per grid point.
    """

    def __init__(self, path: str = DEFAULT_TABLE_FILE,
                 device: Optional[str] = None, batch_size: int = 1,
                 threads: int = 1, measure: bool = True, grid: int = 6,
                 min_run_time: float = 0.02):
        self.path = osp.abspath(osp.expanduser(path))
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.threads = threads
        self.measure = measure
        self.grid = grid
        self.min_run_time = min_run_time
        self.name = device_name(self.device, threads)
        self._new: Dict[str, dict] = {}

    # file ---------------------------------------------------------------
    def _load(self) -> dict:
        if not osp.exists(self.path):
            return {}
        try:
            with open(self.path) as f:
                return json.load(f).get(self.name, {})
        except (OSError, ValueError) as e:
            raise PaSConfigError(f'latency table file {self.path} cannot be '
                                 f'read ({e}); delete it to measure '
                                 'again') from None

    def save(self) -> None:
        """Merge the newly measured entries into the file (atomic)."""
        if not self._new:
            return
        data = {}
        if osp.exists(self.path):
            with open(self.path) as f:
                data = json.load(f)
        data.setdefault(self.name, {}).update(self._new)
        os.makedirs(osp.dirname(self.path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=osp.dirname(self.path),
                                   suffix='.json')
        with os.fdopen(fd, 'w') as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)
        self._new = {}

    def lookup(self, keys: Sequence[str],
               measurers: Sequence[Callable[[], object]]) -> list:
        """Stored value of each key; missing ones are measured by their
        measurer (or refused when ``measure`` is False)."""
        stored = self._load()
        missing = [k for k in keys if k not in stored]
        if missing and not self.measure:
            raise PaSConfigError(
                f'no latency table for {len(missing)} layer(s) of this model '
                f'on "{self.name}" in {self.path} (e.g. {missing[0]}); run '
                '`python tools/latency_table.py CONFIG` on that device, or '
                'allow measuring (LatencyLoss measure=True)')
        out = []
        for key, measurer in zip(keys, measurers):
            if key not in stored:
                stored[key] = self._new[key] = measurer()
            out.append(stored[key])
        self.save()
        return out

    # measuring ----------------------------------------------------------
    def layer_grids(self, entry: MACsEntry) -> List[Grid]:
        """Grid of ``entry`` at each input shape it was called with."""
        m = entry.module
        mult = 1 if entry.depthwise or isinstance(m, nn.Linear) \
            else m.groups
        in_gate = None if entry.depthwise else entry.in_gate
        out_gate = entry.in_gate if (entry.depthwise and
                                     entry.out_gate is None) \
            else entry.out_gate
        in_pts = ([entry.in_channels] if in_gate is None else grid_points(
            in_gate.min_keep, in_gate.num_channels, self.grid, mult))
        out_pts = ([entry.out_channels // entry.out_repeat]
                   if out_gate is None else
                   grid_points(out_gate.min_keep, out_gate.num_channels,
                               self.grid, mult))
        keys = [layer_key(entry, s, self.batch_size, in_pts, out_pts)
                for s in entry.in_shapes]
        measurers = [lambda s=s: self._measure(entry, s, in_pts, out_pts)
                     for s in entry.in_shapes]
        return [(g['in'], g['out'], g['ms'])
                for g in self.lookup(keys, measurers)]

    def _measure(self, entry: MACsEntry, shape: Sequence[int],
                 in_pts: List[int], out_pts: List[int]) -> dict:
        layers = []
        for c_in in in_pts:
            for c_out in out_pts:
                c_i = c_out if entry.depthwise else c_in
                layers.append((
                    _deployed_layer(entry, c_i, c_out * entry.out_repeat),
                    _layer_input(entry, shape, c_i, self.batch_size)))
        ms = torch.tensor(self.time_layers(layers),
                          dtype=torch.float64).view(len(in_pts), -1)
        # latency never falls as a width grows: drop timing noise
        ms = ms.cummax(0).values.cummax(1).values
        return {'in': in_pts, 'out': out_pts, 'ms': ms.tolist()}

    def time_layers(self, layers: Sequence[Tuple[nn.Module, torch.Tensor]]
                    ) -> List[float]:
        """Milliseconds of ``layer(x)`` for each pair, every pair timed in
        ``MEASURE_ROUNDS`` passes (a slow moment of the machine hits one
        pass of a few pairs, and the low quantile leaves it out)."""
        return self._time_calls(self._layer_calls(layers), MEASURE_ROUNDS,
                                self.min_run_time)

    def time_modules(self, modules: Sequence[nn.Module], x: torch.Tensor,
                     run: Optional[Callable] = None, rounds: int = 30,
                     min_run_time: float = 0.05,
                     q: float = 0.2) -> List[float]:
        """Milliseconds per call of each module (or ``run(module, x)``):
        the ``q`` quantile of its single calls, timed in turns for
        ``rounds`` short rounds of at least ``min_run_time`` seconds each,
        so a machine whose speed drifts (a shared VM: 10-15% between
        processes here) slows all alike."""
        return self._time_calls(self._model_calls(modules, x, run), rounds,
                                min_run_time, q)

    def _layer_calls(self, layers) -> List[Callable]:
        return [lambda m=m.eval().to(self.device), x=x.to(self.device):
                m(x) for m, x in layers]

    def _model_calls(self, modules, x, run) -> List[Callable]:
        run = run or (lambda m, x: m(x))
        x = x.to(self.device)
        return [lambda m=m.to(self.device): run(m, x) for m in modules]

    @torch.no_grad()
    def _time_calls(self, calls: Sequence[Callable], rounds: int,
                    min_run_time: float, q: float = 0.2) -> List[float]:
        """:func:`low_quantile` ms of each call, timed in turns."""
        times = [[] for _ in calls]
        for _ in range(rounds):
            for t, call in zip(times, calls):
                t += call_times(call, self.threads, min_run_time,
                                self.device)
        return [low_quantile(t, q) for t in times]


def interpolate(grid: Grid, c_in, c_out):
    """Bilinear latency (ms) at widths ``c_in``/``c_out`` (numbers, or
    tensors carrying the gates' straight-through gradient)."""
    in_pts, out_pts, ms = grid

    def weights(pts, c):
        v = float(c.detach() if isinstance(c, torch.Tensor) else c)
        if len(pts) == 1:
            return 0, 0, 0.
        i = max(0, min(len(pts) - 2,
                       sum(1 for p in pts[1:-1] if p <= v)))
        return i, i + 1, (c - pts[i]) / (pts[i + 1] - pts[i])

    i0, i1, a = weights(in_pts, c_in)
    j0, j1, b = weights(out_pts, c_out)
    return ((1 - a) * ((1 - b) * ms[i0][j0] + b * ms[i0][j1]) +
            a * ((1 - b) * ms[i1][j0] + b * ms[i1][j1]))
