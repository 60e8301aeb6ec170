"""The data folder, file by file — the one place its layout is spelled out::

    <data>/macrorig.db         jobs, presets, schedules, callbacks, ended sessions
                               (SQLite, WAL): rig.store
    <data>/macrorig.db.damaged-<time>   a damaged database, set aside (never deleted) at
                               start-up when the job list was rebuilt: rig.store_recovery
    <data>/jobs/<id>/          one job's frames, manifest, job.json and results: rig.job_files
    <data>/api-token           the API token (mode 0600): web.auth
    <data>/marks.json          the start and end marks set on the page: rig.service
    <data>/rail-state.json     the real rail's last known position: rig.rail
    <data>/rig.lock            held by whichever process drives the real rig
    <data>/sim/                the simulated bench's own: bench.json (the carriage),
                               rail-state.json and rig.lock, so a simulated daemon and
                               a real one never share a lock or a position

A new file in the data folder is one line here.
"""

from __future__ import annotations

from pathlib import Path


class DataLayout:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.database = root / "macrorig.db"
        self.jobs = root / "jobs"
        self.api_token = root / "api-token"
        self.marks = root / "marks.json"
        self.sim_bench = root / "sim" / "bench.json"

    def job(self, job_id: str) -> Path:
        return self.jobs / job_id

    def rail_state(self, simulate: bool) -> Path:
        return self._rig_dir(simulate) / "rail-state.json"

    def rig_lock(self, simulate: bool) -> Path:
        return self._rig_dir(simulate) / "rig.lock"

    def _rig_dir(self, simulate: bool) -> Path:
        """The simulated bench keeps its state apart from the real rig's."""
        return self.root / "sim" if simulate else self.root
