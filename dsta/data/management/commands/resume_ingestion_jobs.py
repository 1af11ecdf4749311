from __future__ import annotations

from django.core.management.base import BaseCommand

from dsta.data.actors import ingestion_jobs_resume


class Command(BaseCommand):
    help = "Re-queue every unfinished market-data ingestion job; each resumes from its committed cursor."

    def handle(self, *args: object, **options: object) -> None:
        job_ids = ingestion_jobs_resume()
        self.stdout.write(f"re-queued {len(job_ids)} job(s)")
