"""sigmaform: config-as-code for SigmaMind AI agents."""

__version__ = "0.2.0"
