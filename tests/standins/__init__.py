"""Stand-ins for the official baseline CLIs (their repositories and checkpoints cannot exist offline), and fake
repositories laid out like the official clones for them to run in. The adapters' code path is the real one:
the same command lines, files and output parsing."""
