"""The data folder, file by file — the one place its layout is spelled out::

    <data>/macrorig.db         jobs, presets and schedules (SQLite, WAL): rig.store
    <data>/jobs/<id>/          one job's frames, manifest and results: rig.job_files
    <data>/api-token           the API token (mode 0600): web.auth
    <data>/marks.json          the start and end marks set on the page: rig.service
    <data>/rail-state.json     the real rail's last known position: rig.rail
    <data>/rig.lock            held by whichever process drives the real rig
    <data>/sim/                the simulated bench's own: bench.json (the carriage),
                               rail-state.json and rig.lock, so a simulated daemon and
                               a real one never share a lock or a position

A new file in the data folder is one property here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataLayout:
    root: Path

    @property
    def database(self) -> Path:
        return self.root / "macrorig.db"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    def job(self, job_id: str) -> Path:
        return self.jobs / job_id

    @property
    def api_token(self) -> Path:
        return self.root / "api-token"

    @property
    def marks(self) -> Path:
        return self.root / "marks.json"

    @property
    def sim_bench(self) -> Path:
        return self._rig_dir(simulate=True) / "bench.json"

    def rail_state(self, simulate: bool) -> Path:
        return self._rig_dir(simulate) / "rail-state.json"

    def rig_lock(self, simulate: bool) -> Path:
        return self._rig_dir(simulate) / "rig.lock"

    def _rig_dir(self, simulate: bool) -> Path:
        return self.root / "sim" if simulate else self.root
