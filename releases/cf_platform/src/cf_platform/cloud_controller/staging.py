"""Staging an app on a DEA and making its droplet the app's current version (on the loop).

The app is re-read before and after: the user may have uploaded new bits meanwhile (their
own staging follows, this one's result is dropped) or deleted the app. A failed staging is
recorded on the app only if its bits are still the ones staged."""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from .blobs import Blobstore, file_sha1
from .db import Database, new_guid
from .dea_client import DeaClient, StagingFailed
from .models import FAILED, PENDING, STAGED, STARTED

log = logging.getLogger(__name__)

StartIndices = Callable[[str, str, list[int]], Awaitable[None]]  # (guid, version, indices)


class Stager:
    def __init__(self, db: Database, blobs: Blobstore, deas: DeaClient, start_indices: StartIndices) -> None:
        self.db = db
        self.blobs = blobs
        self.deas = deas
        self.start_indices = start_indices

    async def stage_and_start(self, guid: str) -> None:
        app = self.db.get_app(guid)
        if app is None or app.state != STARTED or app.package_state != PENDING or not app.bits_sha1:
            return
        staged_bits = app.bits_sha1
        old_version = app.version
        self.db.update_app(guid, staging_log="", staging_task_id=new_guid())
        try:
            result = await self.deas.stage(app)
            droplet = self.blobs.droplet_path(guid)
            if not droplet.exists():
                raise StagingFailed("StagingError", "the DEA reported success but uploaded no droplet", result.log_text)
            sha1 = await asyncio.to_thread(file_sha1, droplet)
            if result.droplet_sha1 and result.droplet_sha1 != sha1:
                log.warning("DEA says droplet sha1 %s, the stored droplet has %s; using the stored one",
                            result.droplet_sha1, sha1)
        except StagingFailed as e:
            log.warning("staging %s failed: %s", app.name, e.description)
            current = self.db.get_app(guid)
            if current is not None and current.bits_sha1 == staged_bits:
                self.db.update_app(guid, package_state=FAILED, staging_failed_reason=e.reason,
                                   staging_failed_description=e.description, staging_log=e.log_text)
            return
        current = self.db.get_app(guid)
        if current is None or current.bits_sha1 != staged_bits:
            return      # deleted, or new bits arrived: their own staging follows
        version = new_guid()
        app = self.db.update_app(guid, package_state=STAGED, droplet_sha1=sha1, version=version,
                                 detected_buildpack=result.detected_buildpack, start_command=result.start_command,
                                 staging_log=result.log_text, staging_failed_reason=None,
                                 staging_failed_description=None)
        log.info("staged %s: buildpack %s, droplet %s", app.name, result.detected_buildpack, sha1)
        await self.deas.stop(guid, version=old_version)   # instances of a previous droplet, if any
        if app.state == STARTED:
            await self.start_indices(guid, version, list(range(app.instances)))
