from services.console.service import main

main()
