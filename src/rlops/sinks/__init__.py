r"""Signal out: where a run's records go, and the one path each record takes.

A record is written to the run's log first, by its producer, and reaches the run store only by
being read back from that log, by one ingest, exactly once:

::

    trainer (rlops train)                 orchestrator worker (command, cleanrl, play, offline)
      RunRecorder.emit                      reads the program's stdout / TensorBoard files
      stamps run_id, trace_id, t            ProtocolReader: record or text
            |                                           |
            +------------------+------------------------+
                               v
                  JsonlSink.append  (sinks.jsonl: the one writer; numbers seq, gap-free)
                               |
                               v
          train_log.jsonl   the source of truth; never dropped; flushed on time
            |             \
            |              \  RunRecorder only: Dispatcher (sinks.dispatcher), one queue and
            |               \ thread per sink, each handed a batch once the log file holds it
            |                +--> otel | tensorboard | mlflow | wandb | s3   (may drop: counted)
            |                +--> sqlite (sinks.sqlite): a batch only says "the log grew"
            |                        |  terminal runs only
            v                        v
      store.ingest.ingest_log(store, log, offset=ingested_bytes)      <- the one ingest
            ^   called by exactly one component a run:
            |     a supervised run (any runner, Ray included): the daemon's TrainerService.tick
            |     a terminal run: its own SqliteSink (RLOPS_SUPERVISED unset)
            v
      SQLite run store (store.runs): a record is taken once, by seq; ingested_bytes moves with it

Exactly once after crashes: the store keeps, per run, the highest ``seq`` it holds and the byte
offset of the last complete line it read, both committed with the data in one transaction, and
only complete lines are read. A process killed at any point leaves a log that the next ingest
(the resumed run's sink, the daemon, ``rlops runs reindex``) continues from that offset: nothing
twice, nothing missing. The log itself is never reached through a queue, so what the sinks
drop (``End.dropped``) is never lost to the run.

What the package holds: the Sink protocol and the run context (``base``), the dispatcher (when a
sink gets its records: OpenTelemetry's processor/exporter split), the producer's recorder, the
log writer, one module per backend, and the registry that builds a run's sinks by name. It
imports ``events``, ``options``, ``errors`` and ``store``; never ``pipeline``, ``services``,
``orchestrator``, ``api`` or ``cli``.
"""
