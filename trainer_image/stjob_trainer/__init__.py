"""The stjob trainer: runs inside the trainer image (and locally via `stjob train`)."""
