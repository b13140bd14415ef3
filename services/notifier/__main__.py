from services.notifier.service import SPEC
from shared.service import main

main(SPEC)
