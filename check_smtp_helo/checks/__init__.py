"""The nagiosplugin side: Resources that hold the conversations, contexts that judge what they
found, Summaries that word the result, and the output layout."""
