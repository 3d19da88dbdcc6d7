"""The bottom layer, below the conversation and TLS alike: the standard library only."""
