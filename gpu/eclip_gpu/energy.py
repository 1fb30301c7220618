"""GPU energy and power from NVML. The total-energy counter (mJ) is what a window's joules come from; it updates
every ~20–100 ms, so only windows of seconds are meaningful (docs/design.md §6)."""

from __future__ import annotations

from .cuda import pci_bus_id


class Energy:
    """NVML readings of CUDA device `index` (an ordinal of this process, after CUDA_VISIBLE_DEVICES)."""

    def __init__(self, index: int = 0):
        import pynvml  # noqa: PLC0415

        pynvml.nvmlInit()
        self.nvml = pynvml
        self.index = index
        self.handle, self.matched_by = _handle(pynvml, index)

    def read_mj(self) -> int:
        return int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))

    def power_w(self) -> float:
        return self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1e3

    def clocks(self) -> dict:
        n = self.nvml
        return {
            "smMHz": n.nvmlDeviceGetClockInfo(self.handle, n.NVML_CLOCK_SM),
            "memMHz": n.nvmlDeviceGetClockInfo(self.handle, n.NVML_CLOCK_MEM),
            "powerLimitW": n.nvmlDeviceGetPowerManagementLimit(self.handle) / 1e3,
            "temperatureC": n.nvmlDeviceGetTemperature(self.handle, n.NVML_TEMPERATURE_GPU),
        }


def _handle(pynvml, index: int):
    """The NVML handle of CUDA device `index`, found by its PCI bus id: NVML's own index counts every GPU of the
    machine, so with CUDA_VISIBLE_DEVICES=1 (`--device 1`) NVML index 0 is another GPU. NVML index `index` only where
    the bus id cannot be read (then the two orders agree on a machine with one GPU, and usually otherwise)."""
    try:
        return pynvml.nvmlDeviceGetHandleByPciBusId(pci_bus_id(index).encode()), "PCI bus id"
    except Exception:  # noqa: BLE001 - the fallback is said in matched_by (paris.py's notes carry it)
        return pynvml.nvmlDeviceGetHandleByIndex(index), "NVML index (PCI bus id unreadable)"
