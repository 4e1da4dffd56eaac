"""The database schema as numbered migrations; ``PRAGMA user_version`` says how many are applied.

Append only: a released migration is never edited, a change is a new one. Each is applied in its
own ``BEGIN IMMEDIATE`` transaction together with the version bump, so a crash leaves the
database at one version or the next, never between.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: runs, their metric points (chunked), episodes and the other records.
    """
    CREATE TABLE runs (
        run_id        TEXT PRIMARY KEY,
        run_dir       TEXT,
        log_path      TEXT,
        status        TEXT NOT NULL DEFAULT 'running',  -- queued|running|finished|failed|stopped|lost
        reason        TEXT,
        runner        TEXT NOT NULL DEFAULT 'rlops',
        env_id        TEXT,
        algorithm     TEXT,
        experiment    TEXT,
        seed          INTEGER,
        config        TEXT,          -- JSON: the options snapshot of the meta record
        trace_id      TEXT,
        host          TEXT,
        pid           INTEGER,
        exit_code     INTEGER,
        created       REAL NOT NULL,
        started       REAL,
        ended         REAL,
        updated       REAL,
        env_steps     INTEGER NOT NULL DEFAULT 0,
        opt_steps     INTEGER NOT NULL DEFAULT 0,
        sps           REAL,
        episodes      INTEGER NOT NULL DEFAULT 0,
        last_return   REAL,
        last_eval     REAL,
        best_eval     REAL,
        checkpoints   INTEGER NOT NULL DEFAULT 0,
        last_checkpoint TEXT,
        resumes       INTEGER NOT NULL DEFAULT 0,
        artifacts     TEXT NOT NULL DEFAULT '[]',  -- JSON: [{kind, path, action, t}]
        dropped       TEXT,          -- JSON: what the run's sinks dropped (from its end record)
        ingested_seq  INTEGER NOT NULL DEFAULT -1,  -- exactly-once: records up to here are in
        ingested_bytes INTEGER NOT NULL DEFAULT 0,  -- how far the JSONL log has been read
        bad_lines     INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX runs_by_created ON runs(created);
    CREATE INDEX runs_by_status ON runs(status, created);

    -- Metric points of one key, packed: int64 env steps and float64 values, little-endian, in
    -- chunks of up to a few thousand points. A chart reads a few rows instead of 100,000.
    CREATE TABLE metric_chunks (
        run_id     TEXT NOT NULL,
        key        TEXT NOT NULL,
        chunk      INTEGER NOT NULL,   -- 0, 1, 2... in the order the points arrived
        first_step INTEGER NOT NULL,
        last_step  INTEGER NOT NULL,
        n          INTEGER NOT NULL,
        min_value  REAL,
        max_value  REAL,
        steps      BLOB NOT NULL,
        vals       BLOB NOT NULL,
        PRIMARY KEY (run_id, key, chunk)
    ) WITHOUT ROWID;

    -- Non-scalar metric values (short histograms such as action_hist), as JSON.
    CREATE TABLE metric_lists (
        run_id    TEXT NOT NULL,
        key       TEXT NOT NULL,
        seq       INTEGER NOT NULL,
        env_steps INTEGER NOT NULL,
        value     TEXT NOT NULL,
        PRIMARY KEY (run_id, key, seq)
    ) WITHOUT ROWID;

    CREATE TABLE episodes (
        run_id    TEXT NOT NULL,
        seq       INTEGER NOT NULL,
        env_index INTEGER NOT NULL,
        episode   INTEGER NOT NULL,
        return    REAL NOT NULL,
        length    INTEGER NOT NULL,
        env_steps INTEGER NOT NULL,
        success   INTEGER,
        t         REAL NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;

    -- Every record that is not a metrics or episode record, whole (step records for replay too).
    CREATE TABLE events (
        run_id    TEXT NOT NULL,
        seq       INTEGER NOT NULL,
        type      TEXT NOT NULL,
        t         REAL NOT NULL,
        env_steps INTEGER,
        body      TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;
    CREATE INDEX events_by_type ON events(run_id, type, seq);
    """,
    # 2: the model registry: the seed's models table and indexes, plus run, hash, tags, lineage and
    # deployment status.
    """
    CREATE TABLE models (
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        model_path          TEXT NOT NULL,
        algorithm           TEXT NOT NULL,
        env_id              TEXT NOT NULL,
        timestamp           INTEGER NOT NULL,   -- unix seconds the model was registered
        total_timesteps     INTEGER,
        mean_reward         REAL,
        std_reward          REAL,
        mean_episode_length REAL,
        eval_episodes       INTEGER,
        hyperparams         TEXT,               -- JSON
        git_commit          TEXT,
        validated           BOOLEAN NOT NULL DEFAULT 0,
        validation          TEXT,               -- JSON: each rule, its threshold and whether it held
        run_id              TEXT,
        sha256              TEXT,
        tags                TEXT NOT NULL DEFAULT '{}',  -- JSON
        parent_model_id     INTEGER REFERENCES models(id) ON DELETE SET NULL,
        deployment_status   TEXT NOT NULL DEFAULT 'none'
                            CHECK (deployment_status IN ('none', 'staging', 'production', 'archived')),
        created             REAL NOT NULL
    );
    CREATE INDEX idx_timestamp ON models(timestamp);
    CREATE INDEX idx_mean_reward ON models(mean_reward);
    CREATE INDEX idx_validated ON models(validated);
    CREATE UNIQUE INDEX models_by_path ON models(model_path);
    -- "the best validated model for an env": one index seek, read backwards (best reward, newest id first).
    CREATE INDEX models_best ON models(env_id, validated, mean_reward);
    CREATE INDEX models_by_status ON models(env_id, deployment_status);
    CREATE INDEX models_by_run ON models(run_id, total_timesteps);
    """,
    # 3: the janitor's two-phase prune of a run directory (the intent, then the deletion, then its
    # completion: a janitor killed between them leaves marks that the next one finishes), and the
    # leases an evaluation holds on a model so that no janitor deletes it under the evaluation.
    """
    ALTER TABLE runs ADD COLUMN pruned TEXT;     -- NULL | 'pruning' (intent written, files may be partly gone) | 'pruned'
    ALTER TABLE models ADD COLUMN pruning TEXT;  -- the run whose directory prune removes this model: hidden meanwhile
    CREATE TABLE model_leases (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        model_id  INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        holder    TEXT NOT NULL,     -- who holds it, for the janitor's message ('rlops eval')
        host      TEXT NOT NULL,
        pid       INTEGER NOT NULL,  -- a lease of a process that is gone (same host) is void at once
        expires   REAL NOT NULL      -- unix seconds; a lease from another host is void after this
    );
    CREATE INDEX model_leases_by_model ON model_leases(model_id);
    """,
    # 4: where a supervised run executes: its backend (local | ray), the node (host) it runs on, and
    # the backend's own name for it (a Ray actor), so that a restarted daemon finds it again.
    """
    ALTER TABLE runs ADD COLUMN backend TEXT NOT NULL DEFAULT 'local';
    ALTER TABLE runs ADD COLUMN node TEXT;
    ALTER TABLE runs ADD COLUMN backend_ref TEXT;
    """,
    # 5: offline-RL datasets (rlops.datasets): one row per dataset directory, with the hash of its
    # manifest's file table and the result of the last verification.
    """
    CREATE TABLE datasets (
        name        TEXT PRIMARY KEY,
        path        TEXT NOT NULL,
        env_id      TEXT,
        episodes    INTEGER NOT NULL,
        steps       INTEGER NOT NULL,
        bytes       INTEGER NOT NULL,
        sha256      TEXT NOT NULL,
        returns     TEXT NOT NULL DEFAULT '{}',    -- JSON: mean, std, min, max of the episode returns
        source      TEXT NOT NULL DEFAULT '{}',    -- JSON: {kind: record|import|play, ...}
        spaces      TEXT NOT NULL DEFAULT '{}',    -- JSON: observation and action space, described
        integrity   TEXT NOT NULL DEFAULT 'ok' CHECK (integrity IN ('ok', 'corrupt')),
        problems    TEXT NOT NULL DEFAULT '[]',    -- JSON: what the last verify found, each naming a file
        verified    REAL,
        created     REAL NOT NULL
    );
    """,
]
