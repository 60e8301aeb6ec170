"""Stacking beyond one Pi, on a Dask cluster (the optional extra ``macrorig[cluster]``).

One stack is one Dask task running the same stacker as ``macrorig stack``
(:mod:`rig.cluster.task`); frames are read and results written through fsspec, so a
folder on a share or in object storage works like a local one.  ``macrorig restack``
turns an archive of job folders into tasks (:mod:`rig.cluster.archive`,
:mod:`rig.cluster.dispatch`, :mod:`rig.cluster.summary`); a rig with
``stacking.cluster`` set hands each job's stacking to the cluster and falls back to
stacking itself when it cannot (:mod:`rig.cluster.handoff`).  Dask, distributed and
fsspec are imported only by the modules that talk to a cluster or read through fsspec,
never at the rig's start-up.
"""
