"""Prints a greeting with the machine it runs on, like a minimal ROS 2 talker."""
import argparse
import platform
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--once', action='store_true', help='print one message and exit')
    args = parser.parse_args()
    count = 0
    while True:
        print(f'strata_demo: hello #{count} from {platform.machine()}', flush=True)
        count += 1
        if args.once:
            return
        time.sleep(1.0)


if __name__ == '__main__':
    main()
