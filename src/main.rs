fn main() -> std::process::ExitCode {
    rekall_policy::cli::main()
}
