"""``python -m offline_rl`` runs the ``offline-rl`` command line."""

from offline_rl.cli import main

if __name__ == "__main__":
    main()
