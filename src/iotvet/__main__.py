"""python -m iotvet."""

from iotvet.cli import main

main()
