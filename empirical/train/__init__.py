"""Training: the loop (loop), its checkpoints, optimiser and schedule, evaluation, divergence detection, initialisation from a checkpoint, provenance and the runtime (device, torchrun rank)."""
