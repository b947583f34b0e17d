from driftmon.cli import main

main()
