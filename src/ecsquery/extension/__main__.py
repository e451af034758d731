"""``python -m ecsquery.extension`` (and the zipapp ``ecsquery.ext``) run the extension."""

from ecsquery.extension.main import main

if __name__ == "__main__":
    main()
