"""GPU energy and power from NVML. The total-energy counter (mJ) is what a window's joules come from; it updates
every ~20–100 ms, so only windows of seconds are meaningful (DESIGN §6)."""

from __future__ import annotations


class Energy:
    def __init__(self, index: int = 0):
        import pynvml  # noqa: PLC0415

        pynvml.nvmlInit()
        self.nvml = pynvml
        self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)

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
