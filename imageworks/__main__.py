from imageworks.cli import main

main()
