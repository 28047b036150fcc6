"""Training: the two trainers and the engine they share.

- :mod:`.glove`, :mod:`.sgns`: the trainers (each gives the engine its parameter groups and kernel);
- :mod:`.loop`: what both trainers share around training: the health check, resume, the memory estimate,
  the epoch-end checkpoint, write-out;
- :mod:`.averaging`: the parameter-averaging rounds (the model on the driver);
- :mod:`.rotation`: block-rotated training (the model in blocks on the executors);
- :mod:`.merge`: the rules that merge the replicas' rows;
- :mod:`.schedule`: which data trains in which round, and the learning-rate schedule;
- :mod:`.checkpoint`: the epoch-end checkpoints.
"""
