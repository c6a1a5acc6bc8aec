"""crosseval: measure and improve the cultural safety of vision-language models on CROSS."""

__version__ = "0.1.0"
