"""Run-level services, above the computation (pipeline/): composing a run (``training``: its
directory, sinks, recorder and registry book around an engine), resume from S3
(``remote_resume``), the registry's side of models (``registry_ops``, ``run_models``,
``scoring``, ``warm_start``), reconciling lost runs with the store and MLflow (``reconcile``),
replaying a log into the sinks (``replay``), the served policy (``policy``) and run references
(``run_ref``). They may import pipeline/, sinks/, store/, events/ and options/; pipeline/ never
imports them.
"""
