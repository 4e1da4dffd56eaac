"""The SB3 engine (``train.engine = "sb3"``, the default): Stable-Baselines3's algorithms behind
``pipeline.engine``. ``algorithms`` and ``features`` build the model from the options,
``observations`` wraps the envs (VecNormalize, frame stacks), ``agent_state`` and ``env_state``
are what a checkpoint holds, ``budget`` plans the step budget, ``session`` is the run (learn,
checkpoint, evaluate, record), ``loading`` rebuilds a trained policy and ``warm_start`` loads
another model's weights into a new one. ``logger`` hands what SB3's learners record to the telemetry
callback (``pipeline.telemetry``); ``counters`` reads SB3's private update count, once.
"""
