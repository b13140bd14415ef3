from services.matcher.service import SPEC
from shared.service import main

main(SPEC)
