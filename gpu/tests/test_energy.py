"""Which GPU NVML reads (eclip_gpu.energy): the CUDA ordinal's own, found by PCI bus id, not NVML's index."""

import sys
import types

import pytest

from eclip_gpu import cuda, energy


class _FakeNvml(types.ModuleType):
    """The two lookups Energy uses; NVML index i is a different GPU than CUDA ordinal i (as under
    CUDA_VISIBLE_DEVICES=1, or CUDA's fastest-first order)."""

    def __init__(self):
        super().__init__("pynvml")
        self.bus_ids: list = []

    def nvmlInit(self):
        pass

    def nvmlDeviceGetHandleByPciBusId(self, bus):
        assert isinstance(bus, bytes), "older nvidia-ml-py takes the bus id as bytes only"
        self.bus_ids.append(bus)
        return ("pci", bus)

    def nvmlDeviceGetHandleByIndex(self, index):
        return ("nvml-index", index)


@pytest.fixture
def nvml(monkeypatch):
    fake = _FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    return fake


def test_the_handle_is_the_cuda_devices_by_pci_bus_id(nvml, monkeypatch):
    buses = {0: "0000:9B:00.0", 1: "0000:1B:00.0"}  # CUDA 1 is the lower bus: NVML would number it 0
    monkeypatch.setattr(energy, "pci_bus_id", lambda i: buses[i])
    e = energy.Energy(1)
    assert e.handle == ("pci", b"0000:1B:00.0")
    assert e.matched_by == "PCI bus id" and e.index == 1


def test_without_a_bus_id_it_falls_back_to_nvmls_index_and_says_so(nvml, monkeypatch):
    def no_driver(i):
        raise cuda.BackendError("no cuda-bindings")

    monkeypatch.setattr(energy, "pci_bus_id", no_driver)
    e = energy.Energy(1)
    assert e.handle == ("nvml-index", 1)
    assert "NVML index" in e.matched_by
