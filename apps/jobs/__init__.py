"""Job lifecycle and state machine, orchestration on Celery, templates, batches, schedules."""
