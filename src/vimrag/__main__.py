from vimrag.cli import main

main()
