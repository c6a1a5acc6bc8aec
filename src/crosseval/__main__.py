from crosseval.cli import main

main()
