from pasarela.cli import main

main()
