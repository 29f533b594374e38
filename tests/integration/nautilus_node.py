"""The real NautilusTrader node the bridge's tests run (harness/src/harness/demo/nautilus_node.py):
a Strategy publishing TradingSignals and a recording FleetActor with its catch-up.

python -m tests.integration.nautilus_node --redis-port P --trader-id T --stream S --out F ...
"""

from harness.demo.nautilus_node import main

if __name__ == "__main__":
    main()
