"""stjob: fine-tune Sentence Transformers on Kubernetes."""

__version__ = "0.1.0"
