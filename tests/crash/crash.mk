# Crash tests: the simulated platform (PORT=sim) at random crash points, and
# kill -9 of a real process with a separate verifier.
crash:
	@if [ -f tests/crash/run.sh ]; then bash tests/crash/run.sh; else echo "crash: no crash tests yet"; fi
