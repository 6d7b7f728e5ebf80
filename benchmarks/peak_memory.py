"""Peak memory of a code block, shared by the benchmarks.

CUDA: ``torch.cuda.max_memory_allocated`` growth. CPU: growth of the
process's resident-set high-water mark (``VmHWM``, reset through
``/proc/self/clear_refs``); run the measured code in a fresh process with
``MALLOC_MMAP_THRESHOLD_=65536`` so freed tensor buffers leave the resident
set and the mark follows live memory.
"""


class PeakMeter:
    """Peak memory growth of the enclosed code (see the module doc)."""

    def __init__(self, device: str):
        self.device = device

    @staticmethod
    def _status(key: str) -> int:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1]) * 1024
        raise RuntimeError(f'{key} not in /proc/self/status')

    def __enter__(self):
        import torch
        if self.device == 'cuda':
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
        else:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')  # reset VmHWM to the current VmRSS
            self.start = self._status('VmRSS')
        return self

    def __exit__(self, *exc):
        import torch
        if self.device == 'cuda':
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated()
        else:
            peak = self._status('VmHWM')
        self.peak = peak - self.start
